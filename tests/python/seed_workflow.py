"""The seed notebook's deploy-and-invoke calls, with boto3, against whatever AWS_ENDPOINT_URL
names (Ebb's local cloud in the test suite). Usage: seed_workflow.py DEMO_DIR ROLE_ARN

Follows ../shared/seed/WORKFLOW.md: default bucket, TGI 1.1.0 model with HF_MODEL_ID and
SM_NUM_GPUS=4, async endpoint config (AllTraffic, ml.g5.12xlarge x1, health check 300 s, output
path async-llm-output/output, 10 concurrent invocations per instance), endpoint InService,
19 uploads with ContentType application/json, InvokeEndpointAsync for each, outputs read back;
then part 3: the scalable target and target-tracking policy exactly as the seed, plus the
scale-from-zero step policy and its HasBacklogWithoutCapacity alarm (CloudWatch as boto3 speaks
it). Prints one JSON line describing what it saw.
"""

import json
import pathlib
import sys
import time

import boto3
from botocore.exceptions import ClientError

IMAGE = (
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/"
    "huggingface-pytorch-tgi-inference:2.0.1-tgi1.1.0-gpu-py39-cu118-ubuntu20.04"
)
NAME = "flan-t5-xxl-async"
PREFIX = "async-llm-output"


def wait_for(what, check, limit=60.0):
    start = time.monotonic()
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() - start > limit:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def default_bucket(session):
    account = session.client("sts").get_caller_identity()["Account"]
    return f"sagemaker-{session.region_name}-{account}"


def deploy(session, role, extra_env=None):
    """The seed's model, async endpoint config and endpoint; returns once InService."""
    bucket = default_bucket(session)
    sm = session.client("sagemaker")
    session.client("s3").head_bucket(Bucket=bucket)
    sm.create_model(
        ModelName=NAME,
        ExecutionRoleArn=role,
        PrimaryContainer={
            "Image": IMAGE,
            "Environment": {
                "HF_MODEL_ID": "google/flan-t5-xxl",
                "SM_NUM_GPUS": "4",
                **(extra_env or {}),
            },
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName=NAME,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": NAME,
                "InstanceType": "ml.g5.12xlarge",
                "InitialInstanceCount": 1,
                "ContainerStartupHealthCheckTimeoutInSeconds": 300,
            }
        ],
        AsyncInferenceConfig={
            "OutputConfig": {"S3OutputPath": f"s3://{bucket}/{PREFIX}/output"},
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 10},
        },
    )
    sm.create_endpoint(EndpointName=NAME, EndpointConfigName=NAME)
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=NAME, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    return bucket


def main():
    demo, role = pathlib.Path(sys.argv[1]), sys.argv[2]
    session = boto3.Session()
    s3 = session.client("s3")
    sm = session.client("sagemaker")
    runtime = session.client("sagemaker-runtime")
    bucket = deploy(session, role)

    files = sorted(demo.glob("*.jsonl"))
    outputs = []
    for path in files:
        key = f"{PREFIX}/input/{path.name}"
        s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": "application/json"})
        response = runtime.invoke_endpoint_async(
            EndpointName=NAME,
            InputLocation=f"s3://{bucket}/{key}",
            ContentType="application/json",
            Accept="application/json",
        )
        outputs.append(response["OutputLocation"])

    def fetch(location):
        _, _, rest = location.partition("s3://")
        out_bucket, _, out_key = rest.partition("/")
        try:
            body = s3.get_object(Bucket=out_bucket, Key=out_key)["Body"].read()
        except ClientError as e:
            if e.response["Error"]["Code"] == "NoSuchKey":
                return None
            raise
        return json.loads(body)

    results = [wait_for(location, lambda: fetch(location)) for location in outputs]
    texts = [r[0]["generated_text"] for r in results]
    scaling = autoscale(session)
    print(
        json.dumps(
            {
                "endpoint_status": sm.describe_endpoint(EndpointName=NAME)["EndpointStatus"],
                "uploaded": len(files),
                "outputs": len(texts),
                "first_output": outputs[0],
                "sample": texts[0],
                **scaling,
            }
        )
    )


def autoscale(session):
    aas = session.client("application-autoscaling")
    cw = session.client("cloudwatch")
    resource = f"endpoint/{NAME}/variant/AllTraffic"
    target = dict(
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    )
    aas.register_scalable_target(**target, MinCapacity=0, MaxCapacity=5)
    tracking = aas.put_scaling_policy(
        **target,
        PolicyName="Invocations-ScalingPolicy",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 5.0,
            "CustomizedMetricSpecification": {
                "MetricName": "ApproximateBacklogSizePerInstance",
                "Namespace": "AWS/SageMaker",
                "Dimensions": [{"Name": "EndpointName", "Value": NAME}],
                "Statistic": "Average",
            },
            "ScaleInCooldown": 600,
            "ScaleOutCooldown": 100,
        },
    )
    step = aas.put_scaling_policy(
        **target,
        PolicyName="HasBacklogWithoutCapacity-ScalingPolicy",
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity",
            "MetricAggregationType": "Average",
            "Cooldown": 300,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
        },
    )
    cw.put_metric_alarm(
        AlarmName=f"{NAME}-HasBacklogWithoutCapacity",
        MetricName="HasBacklogWithoutCapacity",
        Namespace="AWS/SageMaker",
        Statistic="Average",
        Dimensions=[{"Name": "EndpointName", "Value": NAME}],
        Period=60,
        EvaluationPeriods=2,
        DatapointsToAlarm=2,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="missing",
        AlarmActions=[step["PolicyARN"]],
    )
    cw.put_metric_data(Namespace="Ebb/Test", MetricData=[{"MetricName": "Depth", "Value": 3.0}])
    listed = cw.list_metrics(Namespace="Ebb/Test")["Metrics"]
    policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)
    alarms = cw.describe_alarms()["MetricAlarms"]
    return {
        "tracking_alarms": len(tracking["Alarms"]),
        "policies": sorted(p["PolicyName"] for p in policies["ScalingPolicies"]),
        "step_alarms": [
            a["AlarmName"]
            for p in policies["ScalingPolicies"]
            if p["PolicyType"] == "StepScaling"
            for a in p["Alarms"]
        ],
        "alarms": len(alarms),
        "metrics": [m["MetricName"] for m in listed],
    }


if __name__ == "__main__":
    main()
