// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type {
  DeploySpec,
  DoctorReport,
  EndpointSummary,
  Guide,
  JobSummary,
  LoadTestSpec,
  LocalModels,
  Overview,
  ScalingSpec,
  Step,
} from "../bindings";
import type { Connection } from "./connection";
import { demoJob, localModel } from "./fixtures";
import { errorLog, logError } from "./errorLog.svelte";

const connected: Connection = {
  state: "done",
  report: {
    ok: true,
    checks: [],
    identity: { account: "000000000000" },
  } as unknown as DoctorReport,
};

const endpoint: EndpointSummary = {
  name: "flan-t5-xxl-20250101-120000",
  status: "InService",
  failure_reason: null,
  config_name: "flan-cfg",
  instance_type: "ml.g5.12xlarge",
  current_instances: 1,
  desired_instances: 1,
  is_async: true,
  output_path: "s3://b/async-llm-output/output",
  failure_path: null,
  age_s: 60,
  usd_per_hour: 7.09,
  price_source: "estimate",
  created_by_ebb: true,
};

function job(state: JobSummary["state"], succeeded: number): JobSummary {
  return demoJob("job-1", endpoint.name, state, succeeded);
}

const step = (state: Step["state"], ready: boolean, detail: string): Step => ({
  state,
  ready,
  detail,
});
const scaling = { endpoint: endpoint.name, min: 0, max: 5 } as ScalingSpec;
const loadTest: LoadTestSpec = {
  endpoint: endpoint.name,
  rate: 5,
  duration_s: 20,
  payload: null,
};

function guide(parts: Partial<Guide>): Guide {
  return {
    endpoint: null,
    job: null,
    deploy: step("todo", true, "Deploys the article's flan-t5-xxl async endpoint."),
    submit: step("todo", false, "Needs step 1's endpoint."),
    autoscale: step("todo", false, "Needs step 1's endpoint."),
    scaling: null,
    load_test: null,
    ...parts,
  };
}

const empty: Overview = {
  endpoints: 0,
  running: [],
  usd_per_hour: 0,
  jobs: 0,
  unfinished: [],
  guide: guide({}),
};

const halfway: Overview = {
  endpoints: 1,
  running: [endpoint],
  usd_per_hour: 7.09,
  jobs: 1,
  unfinished: [job("collecting", 9)],
  guide: guide({
    endpoint: endpoint.name,
    job: job("collecting", 9),
    deploy: step("done", false, `${endpoint.name} is InService with 1 instance.`),
    submit: step("working", false, "job-1: 9 of 19 results in…"),
    autoscale: step("todo", true, "Applies the seed autoscaling…"),
    scaling,
    load_test: loadTest,
  }),
};

const finished: Overview = {
  ...halfway,
  unfinished: [],
  guide: guide({
    ...halfway.guide,
    job: job("done", 19),
    submit: step("done", false, "job-1: 19 succeeded, 0 failed of 19 requests."),
    autoscale: step("done", false, "scales between 0 and 5 instances on its queue"),
  }),
};

let current: Overview = empty;
const seed = {
  model_id: "google/flan-t5-xxl",
  endpoint_name: "flan-t5-xxl-20250101-120000",
} as DeploySpec;
const nothingReal: LocalModels = {
  local: true,
  memory_available: "2.0 GB",
  offline: false,
  models: [],
};
let models: LocalModels = nothingReal;
const localModels = vi.fn(() => Promise.resolve({ status: "ok", data: models }));
// Lets the screen take answers already given (the mocks answer at once).
const settled = () => new Promise((resolve) => setTimeout(resolve, 0));
const deploy = vi.fn((s: DeploySpec) =>
  Promise.resolve({
    status: "ok",
    data: {
      endpoint_name: s.endpoint_name,
      status: "InService",
      verdict: "ready",
      failure_reason: null,
      diagnosis: null,
      smoke_test: null,
      resources: [],
    },
  }),
);
const autoscale = vi.fn((s: ScalingSpec) =>
  Promise.resolve({ status: "ok", data: { lines: [s.endpoint] } }),
);
const startLoadTest = vi.fn((s: LoadTestSpec) => Promise.resolve({ status: "ok", data: s }));
const submitJob = vi.fn((...args: unknown[]) =>
  Promise.resolve({ status: "ok", data: `job for ${String(args[2])}` }),
);
const listen = () => Promise.resolve(() => undefined);

vi.mock("../bindings", () => ({
  commands: {
    overview: () => Promise.resolve({ status: "ok", data: current }),
    seedPreset: () => Promise.resolve({ status: "ok", data: seed }),
    localModels: () => localModels(),
    // Stands in for the engine's rule: a generated name follows the model.
    changeModel: (s: DeploySpec, modelId: string) =>
      Promise.resolve({ ...s, model_id: modelId, endpoint_name: "flan-t5-small-20250101-120000" }),
    deploy: (s: DeploySpec) => deploy(s),
    cancelDeploy: () => Promise.resolve(),
    demoFolder: () => Promise.resolve("/opt/ebb/demo"),
    submitJob: (...args: unknown[]) => submitJob(...args),
    autoscale: (s: ScalingSpec) => autoscale(s),
    startLoadTest: (s: LoadTestSpec) => startLoadTest(s),
  },
  events: {
    deployProgressEvent: { listen },
    jobProgressEvent: { listen },
  },
}));

const { default: HomeScreen } = await import("./HomeScreen.svelte");

function show(overview: Overview, props: Partial<{ mode: "local" | "aws" }> = {}) {
  current = overview;
  const onOpen = vi.fn();
  render(HomeScreen, { mode: props.mode ?? "local", connection: connected, idle: [], onOpen });
  return onOpen;
}

const state = (key: string) => screen.getByTestId(`step-${key}`).getAttribute("data-state");

beforeEach(() => {
  errorLog.entries = [];
  models = nothingReal;
});

afterEach(() => {
  cleanup();
  vi.clearAllMocks();
});

describe("home screen", () => {
  it("on an empty local cloud offers step 1 only and says what to do next", async () => {
    show(empty);
    await screen.findByTestId("step-deploy");
    expect([state("deploy"), state("submit"), state("autoscale")]).toEqual([
      "todo",
      "todo",
      "todo",
    ]);
    expect(screen.getByTestId("step-deploy-run")).toBeTruthy();
    expect(screen.queryByTestId("step-submit-run")).toBeNull();
    expect(screen.queryByTestId("step-autoscale-run")).toBeNull();
    expect(screen.getByTestId("home-no-endpoint").textContent).toMatch(/No endpoint yet/);
    expect(screen.getByTestId("home-no-job").textContent).toMatch(/submits the demo folder/);
    expect(screen.getByTestId("home-no-errors")).toBeTruthy();
  });

  it("deploys the seed preset from step 1", async () => {
    show(empty);
    await fireEvent.click(await screen.findByTestId("step-deploy-run"));
    await waitFor(() => expect(deploy).toHaveBeenCalledWith(seed));
  });

  it("offers step 1 with a model that runs for real, and deploys the preset with it", async () => {
    const small = localModel("google/flan-t5-small", {
      parameters_text: "77M",
      memory_text: "564 MB",
      disk_text: "308 MB",
      cached: true,
      chat: false,
    });
    const tooBig = localModel("google/flan-t5-large", { cached: true, fits: false });
    models = { ...nothingReal, models: [tooBig, localModel("a/downloads"), small] };
    show(empty);
    const real = await screen.findByTestId("step-deploy-real");
    expect(real.textContent).toBe("Deploy flan-t5-small (real answers)");
    expect(screen.getByTestId("step-deploy-real-note").textContent).toMatch(
      /flan-t5-xxl gets simulated answers.*flan-t5-small \(77M\s+parameters, 564 MB of memory, in the Hugging Face cache \(308 MB\)\).*real answers/s,
    );
    await fireEvent.click(real);
    await waitFor(() =>
      expect(deploy).toHaveBeenCalledWith({
        model_id: "google/flan-t5-small",
        endpoint_name: "flan-t5-small-20250101-120000",
      }),
    );
  });

  it("offers no real-model deploy when none fits, or once step 1 is done", async () => {
    models = { ...nothingReal, models: [localModel("google/flan-t5-large", { fits: false })] };
    show(empty);
    await screen.findByTestId("step-deploy-run");
    await waitFor(() => expect(localModels).toHaveBeenCalled());
    await settled();
    expect(screen.queryByTestId("step-deploy-real-note")).toBeNull();
    expect(screen.queryByTestId("step-deploy-real")).toBeNull();
    cleanup();
    models = { ...nothingReal, models: [localModel("google/flan-t5-small", { cached: true })] };
    show(halfway);
    await waitFor(() => expect(state("deploy")).toBe("done"));
    await waitFor(() => expect(localModels).toHaveBeenCalled());
    await settled();
    expect(screen.queryByTestId("step-deploy-real")).toBeNull();
  });

  it("submits the demo folder to step 1's endpoint from step 2", async () => {
    show({
      ...halfway,
      unfinished: [],
      guide: guide({
        ...halfway.guide,
        job: null,
        submit: step("todo", true, `Sends the demo folder to ${endpoint.name}.`),
      }),
    });
    await fireEvent.click(await screen.findByTestId("step-submit-run"));
    await waitFor(() => expect(submitJob).toHaveBeenCalled());
    const [paths, options, target, , validOnly] = submitJob.mock.calls[0] ?? [];
    expect([paths, options, target, validOnly]).toEqual([
      ["/opt/ebb/demo"],
      { recursive: false, per_file: false },
      endpoint.name,
      false,
    ]);
  });

  it("shows each step as the engine reads it, with the job's progress and what runs", async () => {
    show(halfway);
    await waitFor(() => expect(state("deploy")).toBe("done"));
    expect(state("submit")).toBe("working");
    expect(screen.getByTestId("step-submit-detail").textContent).toBe("job-1: 9 of 19 results in…");
    expect(screen.getByTestId("home-running").textContent).toMatch(/1 × ml\.g5\.12xlarge/);
    expect(screen.getByTestId("home-running").textContent).toMatch(/~\$7\.09\/h/);
    expect(screen.getByTestId("home-cost-note").textContent).toMatch(/local cloud bills nothing/);
    expect(screen.getByTestId("home-jobs").textContent).toMatch(/job-1.*collecting.*9\/19/s);
  });

  it("autoscales, starts the load test and opens the charts on that endpoint", async () => {
    const onOpen = show(halfway);
    await fireEvent.click(await screen.findByTestId("step-autoscale-run"));
    await waitFor(() => expect(onOpen).toHaveBeenCalledWith("scaling", endpoint.name));
    expect(autoscale).toHaveBeenCalledWith(scaling);
    expect(startLoadTest).toHaveBeenCalledWith(loadTest);
  });

  it("marks every step done with the job's counts and links to where each happened", async () => {
    const onOpen = show(finished);
    await waitFor(() => expect(state("autoscale")).toBe("done"));
    expect(state("deploy")).toBe("done");
    expect(screen.getByTestId("step-submit").textContent).toMatch(/19 succeeded, 0 failed/);
    await fireEvent.click(screen.getByTestId("step-submit-open"));
    expect(onOpen).toHaveBeenCalledWith("jobs", "job-1");
    await fireEvent.click(screen.getByTestId("step-deploy-open"));
    expect(onOpen).toHaveBeenCalledWith("endpoints", endpoint.name);
    await fireEvent.click(screen.getByTestId("step-autoscale-open"));
    expect(onOpen).toHaveBeenCalledWith("scaling", endpoint.name);
  });

  it("in AWS mode shows no guide, and when not connected sends the user to Settings", async () => {
    current = finished;
    const onOpen = vi.fn();
    const failed: Connection = { state: "error", message: "no credentials" };
    render(HomeScreen, { mode: "aws", connection: failed, idle: [], onOpen });
    expect(screen.getByTestId("home-connection").textContent).toMatch(/AWS: not connected/);
    expect(screen.getByTestId("home-not-connected").textContent).toMatch(/Test connection/);
    expect(screen.queryByTestId("step-deploy")).toBeNull();
    await fireEvent.click(screen.getByTestId("home-open-settings"));
    expect(onOpen).toHaveBeenCalledWith("settings");
  });

  it("in AWS mode with nothing yet says what to do next on the other screens", async () => {
    const onOpen = show({ ...empty, guide: null }, { mode: "aws" });
    const noEndpoint = await screen.findByTestId("home-no-endpoint");
    expect(noEndpoint.textContent).toMatch(/Seed preset/);
    expect(screen.getByTestId("home-no-job").textContent).toMatch(/demo folder/);
    expect(screen.queryByTestId("step-deploy")).toBeNull();
    await fireEvent.click(screen.getByText("Open Endpoints"));
    expect(onOpen).toHaveBeenCalledWith("endpoints");
  });

  it("lists the session's errors with where they happened, repeats counted once", async () => {
    logError("AWS refused ListEndpoints: access denied", "Endpoints");
    logError("AWS refused ListEndpoints: access denied", "Endpoints");
    logError("the folder is empty", "Jobs");
    show(halfway, { mode: "aws" });
    const list = await screen.findByTestId("home-errors");
    const items = [...list.querySelectorAll("li")].map((li) => li.textContent ?? "");
    expect(items).toHaveLength(2);
    expect(items[0]).toMatch(/Jobs.*the folder is empty/s);
    expect(items[1]).toMatch(/Endpoints · 2×.*access denied/s);
  });
});
