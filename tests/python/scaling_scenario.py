"""The seed's part 3 as the article tests it, with boto3 against a sped-up local cloud
(`ebb local serve --speed N`): deploy, register the seed's scalable target, target-tracking
policy and scale-from-zero step policy, park the endpoint at zero, send a burst of requests,
watch the instance count go 0 -> several -> 0, then send one more and watch it wake to 1.
Reads the metrics, alarms and scaling activities back, removes the scaling set-up, and prints
one JSON line with what it saw. Usage: scaling_scenario.py ROLE_ARN REQUESTS
"""

import json
import os
import sys
import threading
import time

import boto3

# The AWS-like local cloud throttles the control plane as AWS does; retry as the Rust tests'
# clients do (standard mode, 10 attempts) instead of botocore's legacy 2 retries, whose
# watcher thread otherwise dies on a burst of ThrottlingException.
os.environ.setdefault("AWS_RETRY_MODE", "standard")
os.environ.setdefault("AWS_MAX_ATTEMPTS", "10")

import seed_workflow
from seed_workflow import NAME, PREFIX, wait_for

TARGET = dict(
    ServiceNamespace="sagemaker",
    ResourceId=f"endpoint/{NAME}/variant/AllTraffic",
    ScalableDimension="sagemaker:variant:DesiredInstanceCount",
)
DIMENSIONS = [{"Name": "EndpointName", "Value": NAME}]


class Watcher(threading.Thread):
    """Records each change of the instance count and of the wake-up alarm's state."""

    def __init__(self, session, alarm):
        super().__init__(daemon=True)
        self.sm = session.client("sagemaker")
        self.cw = session.client("cloudwatch")
        self.alarm = alarm
        self.instances, self.states = [], []
        self.running = True

    def run(self):
        while self.running:
            d = self.sm.describe_endpoint(EndpointName=NAME)
            count = d["ProductionVariants"][0]["CurrentInstanceCount"]
            alarms = self.cw.describe_alarms(AlarmNames=[self.alarm])["MetricAlarms"]
            for seen, value in ((self.instances, count), (self.states, alarms[0]["StateValue"])):
                if not seen or seen[-1] != value:
                    seen.append(value)
            time.sleep(0.1)


def outputs(s3, bucket):
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{PREFIX}/output/")
    return sum(page.get("KeyCount", 0) for page in pages)


def invoke(runtime, location, n):
    for _ in range(n):
        runtime.invoke_endpoint_async(
            EndpointName=NAME, InputLocation=location, ContentType="application/json"
        )


def metric_max(cw, name):
    now = time.time()
    answer = cw.get_metric_data(
        StartTime=now - 3 * 3600,
        EndTime=now,
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/SageMaker", "MetricName": name, "Dimensions": DIMENSIONS},
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
        ],
    )["MetricDataResults"][0]
    assert all(t.timestamp() <= now + 1 for t in answer["Timestamps"]), "a datapoint in the future"
    return max(answer["Values"], default=None)


def main():
    role, requests = sys.argv[1], int(sys.argv[2])
    session = boto3.Session()
    s3 = session.client("s3")
    sm = session.client("sagemaker")
    runtime = session.client("sagemaker-runtime")
    aas = session.client("application-autoscaling")
    cw = session.client("cloudwatch")
    # Every request takes 20 simulated seconds (20 tokens at 1 s).
    bucket = seed_workflow.deploy(session, role, {"EBB_LOCAL_TOKEN_LATENCY_MS": "1000"})
    setup = seed_workflow.autoscale(session)
    alarm = setup["step_alarms"][0]

    # Idle at zero, as the endpoint sits after the article's test.
    sm.update_endpoint_weights_and_capacities(
        EndpointName=NAME,
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 0}],
    )
    sm.get_waiter("endpoint_in_service").wait(EndpointName=NAME, WaiterConfig={"Delay": 0.5})
    key = f"{PREFIX}/input/request.json"
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps({"inputs": "What is the capital of France?", "parameters": {"max_new_tokens": 20}}),
        ContentType="application/json",
    )
    location = f"s3://{bucket}/{key}"

    started = time.monotonic()
    watcher = Watcher(session, alarm)
    watcher.start()
    invoke(runtime, location, requests)
    wait_for("every output", lambda: True if outputs(s3, bucket) >= requests else None, 240)
    wait_for(
        "the scale-in to zero",
        lambda: True if len(watcher.instances) > 2 and watcher.instances[-1] == 0 else None,
        240,
    )
    invoke(runtime, location, 1)
    wait_for("the late request's output", lambda: True if outputs(s3, bucket) > requests else None, 120)
    time.sleep(0.3)
    watcher.running = False
    watcher.join()
    elapsed = time.monotonic() - started

    activities = aas.describe_scaling_activities(ServiceNamespace="sagemaker", ResourceId=TARGET["ResourceId"])

    def processed():
        stats = cw.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName="InvocationsProcessed",
            Dimensions=DIMENSIONS,
            StartTime=time.time() - 3 * 3600,
            EndTime=time.time(),
            Period=60,
            Statistics=["Sum"],
        )
        total = sum(p["Sum"] for p in stats["Datapoints"])
        return total if total > requests else None

    listed = cw.list_metrics(Namespace="AWS/SageMaker", Dimensions=DIMENSIONS)["Metrics"]
    seen = {
        "instances": watcher.instances,
        "alarm_states": watcher.states,
        "seconds": round(elapsed, 1),
        "activities": [
            {"description": a["Description"], "cause": a["Cause"], "status": a["StatusCode"]}
            for a in reversed(activities["ScalingActivities"])
        ],
        "peak_backlog": metric_max(cw, "ApproximateBacklogSize"),
        # Published once a simulated minute ends, like SageMaker's.
        "processed": wait_for("InvocationsProcessed to count every request", processed, 30),
        "metrics": sorted(m["MetricName"] for m in listed),
    }

    # Remove the scaling set-up the way a notebook would.
    for policy in setup["policies"]:
        aas.delete_scaling_policy(PolicyName=policy, **TARGET)
    cw.delete_alarms(AlarmNames=[alarm])
    aas.deregister_scalable_target(**TARGET)
    seen["left_after_cleanup"] = {
        "targets": len(aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]),
        "alarms": len(cw.describe_alarms()["MetricAlarms"]),
    }
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
