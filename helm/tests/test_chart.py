"""Chart tests with real Helm (Helm v4's SDK through helm-python-sdk) and
kubernetes-validate: lint, render the defaults and every preset, validate each object
against a current Kubernetes, and check every lesson (policy.py). Each policy check is
also run on a broken manifest to prove it catches what it is for.

Run: scripts/helm-test.sh (python -m unittest discover -s helm/tests).
"""

import copy
import glob
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import helm_python
import kubernetes_validate
import yaml

import policy

CHART = os.path.join(os.path.dirname(__file__), "..", "firebreak")
KUBERNETES = "1.34"
# Custom resources (CloudNativePG, prometheus-operator): no schema in kubernetes-validate;
# their shape is checked by the tests below instead.
CUSTOM = {"Cluster", "ServiceMonitor", "PrometheusRule"}
PRESETS = sorted(glob.glob(os.path.join(CHART, "presets", "*.yaml")))


def render(values=None):
    chart = helm_python.Chart.load(CHART)
    out = chart.render(values or {}, name="fb", namespace="firebreak", is_install=True)
    objs = []
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            continue
        objs.extend(d for d in yaml.safe_load_all(text) if d)
    return objs


def preset(path):
    with open(path) as f:
        return yaml.safe_load(f)


EXTERNAL_LLM = {"answers": {"llm": "external", "external": {
    "url": "http://ollama.ollama:11434", "model": "llama3.2:3b",
    "apiKeySecret": {"name": "ollama-key", "key": "api-key"},
    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ollama"}}}]}}}


def workload(objs, suffix):
    return next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"].endswith(suffix))


def env_of(deployment):
    return {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])}


def variants():
    yield "defaults", {}
    for p in PRESETS:
        yield os.path.basename(p), preset(p)
    yield "in-process embedder", {"embedder": {"enabled": False}}
    yield "external LLM", EXTERNAL_LLM
    yield "no LLM", {"answers": {"llm": "none"}}
    yield "namespace and monitoring", {"namespace": {"create": True}, "monitoring": {
        "serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}, "dashboard": {"enabled": True}}}


class Chart(unittest.TestCase):
    def test_lint_is_clean(self):
        for label, values in variants():
            with self.subTest(label):
                report = helm_python.lint(CHART, values, strict=True, namespace="firebreak", kube_version=f"v{KUBERNETES}.0")
                self.assertEqual(report["errors"], [], report)
                bad = [m for m in report["messages"] if m["severity"] >= 2]
                self.assertEqual(bad, [], report)

    def test_every_object_validates_against_kubernetes(self):
        for label, values in variants():
            for o in render(values):
                if o["kind"] in CUSTOM:
                    continue
                with self.subTest(f"{label}: {o['kind']}/{o['metadata']['name']}"):
                    kubernetes_validate.validate(o, KUBERNETES, strict=True)

    def test_every_lesson_holds(self):
        for label, values in variants():
            objs = render(values)
            for check in policy.ALL:
                with self.subTest(f"{label}: {check.__name__}"):
                    self.assertEqual(check(objs), [], check.__doc__)

    def test_tokens_file_and_client_tokens_agree(self):
        secret = next(o for o in render() if o["kind"] == "Secret")
        lines = [l.split() for l in secret["stringData"]["tokens"].splitlines() if l.strip()]
        self.assertEqual([l[0] for l in lines], ["alertmanager", "ingest", "sre", "monitor", "agent", "chat"])
        for client, scopes, token in lines:
            self.assertEqual(secret["stringData"][f"token-{client}"], token)
            self.assertGreaterEqual(len(token), 32)

    def test_gpu_preset_runs_the_cuda_image_on_the_gpu_node_with_cpu_limits(self):
        emb = next(o for o in render(preset(os.path.join(CHART, "presets", "gpu.yaml")))
                   if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-embedder"))
        spec = emb["spec"]["template"]["spec"]
        c = spec["containers"][0]
        self.assertTrue(c["image"].endswith("-cuda"), c["image"])
        self.assertEqual(str(c["resources"]["limits"]["nvidia.com/gpu"]), "1")
        self.assertIn("cpu", c["resources"]["limits"])
        self.assertIn("nvidia.com/gpu", [t["key"] for t in spec["tolerations"]])

    def test_gateway_never_waits_on_the_embedder_to_be_ready(self):
        gw = next(o for o in render() if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-gateway"))
        c = gw["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(c["readinessProbe"]["httpGet"]["path"], "/readyz")
        self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/healthz")

    def test_replicas_without_shared_storage_are_refused(self):
        with self.assertRaises(helm_python.HelmError):
            render({"gateway": {"replicas": 2}})

    def test_ha_budgets_are_the_one_gateway_budgets_shared_by_the_replicas(self):
        def config(values):
            objs = render(values)
            cm = next(o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-gateway"))
            return workload(objs, "-gateway")["spec"]["replicas"], cm["data"]
        one_n, one = config({})
        ha = preset(os.path.join(CHART, "presets", "ha.yaml"))
        n, cfg = config(ha)
        self.assertEqual((one_n, n), (1, 3))
        for key in ["FIREBREAK_EMBED_BUDGET_TEXTS", "FIREBREAK_SOURCE_EMBED_BUDGET_TEXTS"]:
            self.assertLessEqual(n * int(cfg[key]), int(one[key]), key)
        # The storm threshold (default 300 a minute) holds across the replicas too.
        self.assertLessEqual(n * int(cfg["FIREBREAK_STORM_ALERTS_PER_MINUTE"]), 300)
        # The rest of the gateway's settings are the defaults': a preset adds, never drops.
        self.assertTrue(set(one) <= set(cfg), set(one) - set(cfg))

    def test_cnpg_cluster_and_database_url(self):
        objs = render(preset(os.path.join(CHART, "presets", "cnpg.yaml")))
        cluster = next(o for o in objs if o["kind"] == "Cluster")
        self.assertEqual(cluster["apiVersion"], "postgresql.cnpg.io/v1")
        gw = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-gateway"))
        env = {e["name"]: e for e in gw["spec"]["template"]["spec"]["containers"][0]["env"]}
        ref = env["FIREBREAK_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        self.assertEqual((ref["name"], ref["key"]), (cluster["metadata"]["name"] + "-app", "uri"))

    def test_mcp_origins_and_hosts_reach_the_gateway_and_an_agent_token_exists(self):
        objs = render({"gateway": {"mcp": {"allowedOrigins": ["https://chat.example.com", "http://localhost:3080"],
                                           "allowedHosts": ["firebreak.example.com"]}}})
        cm = next(o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-gateway"))
        self.assertEqual(cm["data"]["FIREBREAK_MCP_ALLOWED_ORIGINS"], "https://chat.example.com,http://localhost:3080")
        self.assertEqual(cm["data"]["FIREBREAK_MCP_ALLOWED_HOSTS"], "firebreak.example.com")
        default = next(o for o in render() if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-gateway"))
        self.assertNotIn("FIREBREAK_MCP_ALLOWED_ORIGINS", default["data"])
        secret = next(o for o in render() if o["kind"] == "Secret")
        self.assertIn("token-agent", secret.get("stringData", secret.get("data", {})))

    def test_answers_come_from_the_embedders_smollm2_by_default(self):
        objs = render()
        emb = workload(objs, "-embedder")
        args = emb["spec"]["template"]["spec"]["containers"][0]["args"]
        self.assertEqual(args[args.index("--chat-model") + 1], "/models/SmolLM2-135M-Instruct")
        env = env_of(workload(objs, "-gateway"))
        self.assertEqual(env["FIREBREAK_LLM_URL"], "http://fb-firebreak-embedder:8081")
        self.assertEqual(env["FIREBREAK_LLM_MODEL"], "SmolLM2-135M-Instruct")
        self.assertEqual(env["FIREBREAK_LLM_CONCURRENCY"], "1")
        self.assertNotIn("FIREBREAK_ANSWER_STRICT", env)
        # Without the embedder the gateway runs the model itself.
        env = env_of(workload(render({"embedder": {"enabled": False}}), "-gateway"))
        self.assertEqual(env["FIREBREAK_CHAT_MODEL"], "/models/SmolLM2-135M-Instruct")
        self.assertNotIn("FIREBREAK_LLM_URL", env)

    def test_an_external_llm_gets_its_key_from_a_mounted_secret_and_a_way_out(self):
        objs = render(EXTERNAL_LLM)
        gw = workload(objs, "-gateway")
        env = env_of(gw)
        self.assertEqual((env["FIREBREAK_LLM_URL"], env["FIREBREAK_LLM_MODEL"]), ("http://ollama.ollama:11434", "llama3.2:3b"))
        self.assertEqual(env["FIREBREAK_LLM_API_KEY_FILE"], "/etc/firebreak/llm/api-key")
        self.assertNotIn("FIREBREAK_LLM_API_KEY", env, "a key never travels as an env value")
        vols = {v["name"]: v for v in gw["spec"]["template"]["spec"]["volumes"]}
        self.assertEqual(vols["llm-api-key"]["secret"]["secretName"], "ollama-key")
        emb_args = workload(objs, "-embedder")["spec"]["template"]["spec"]["containers"][0]["args"]
        self.assertNotIn("--chat-model", emb_args)
        np = next(o for o in objs if o["kind"] == "NetworkPolicy" and o["metadata"]["name"].endswith("-gateway"))
        self.assertIn({"port": 11434}, [p for r in np["spec"]["egress"] for p in r.get("ports", [])])
        with self.assertRaises(helm_python.HelmError):
            render({"answers": {"llm": "external"}})
        with self.assertRaises(helm_python.HelmError):
            render({"answers": {"llm": "gpt"}})

    def test_without_an_llm_nothing_generates(self):
        objs = render({"answers": {"llm": "none", "strict": True}})
        env = env_of(workload(objs, "-gateway"))
        self.assertFalse({"FIREBREAK_LLM_URL", "FIREBREAK_CHAT_MODEL", "FIREBREAK_LLM_CONCURRENCY"} & set(env), env)
        self.assertEqual(env["FIREBREAK_ANSWER_STRICT"], "true")
        self.assertNotIn("--chat-model", workload(objs, "-embedder")["spec"]["template"]["spec"]["containers"][0]["args"])

    def test_prometheus_rule_names_the_alerts_the_gateway_treats_as_its_own(self):
        objs = render({"monitoring": {"prometheusRule": {"enabled": True}}})
        rule = next(o for o in objs if o["kind"] == "PrometheusRule")
        alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
        self.assertEqual(set(alerts), {"FirebreakEmbeddingBacklogOld", "FirebreakBreakerOpen", "FirebreakIngestRunTooOld",
                                       "FirebreakStormMode", "FirebreakRateLimited", "FirebreakHttpErrors",
                                       "FirebreakSearchSlow"})
        cm = next(o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-gateway"))
        self.assertIn("firebreak_self=true", cm["data"]["FIREBREAK_SELF_ALERT_MATCHERS"])
        for a in alerts.values():
            self.assertEqual(a["labels"]["firebreak_self"], "true")


def tool(name):
    """Prometheus' and Alertmanager's own checkers (Debian's prometheus and
    prometheus-alertmanager, which .ci/run installs): CI must have them."""
    found = shutil.which(name)
    if not found and os.environ.get("CI"):
        raise AssertionError(f"{name} is not installed (.ci/run installs it)")
    return found


def yaml_blocks(path, heading):
    """The ```yaml blocks of a Markdown file's section named `heading`."""
    with open(path) as f:
        text = f.read()
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", section, re.S)]


class GpuPreset(unittest.TestCase):
    def test_the_gpu_preset_runs_the_cuda_build_on_the_gpu_with_cpu_limits(self):
        objs = render(preset(os.path.join(CHART, "presets", "gpu.yaml")))
        emb = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-embedder"))
        spec = emb["spec"]["template"]["spec"]
        c = spec["containers"][0]
        self.assertTrue(c["image"].endswith("-cuda"), c["image"])
        self.assertEqual(c["args"][c["args"].index("--device") + 1], "cuda:0")
        self.assertEqual(str(c["resources"]["limits"]["nvidia.com/gpu"]), "1")
        self.assertIn("cpu", c["resources"]["limits"])
        self.assertTrue(any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"]), spec.get("tolerations"))
        cpu_only = render()
        emb = next(o for o in cpu_only if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-embedder"))
        self.assertNotIn("--device", emb["spec"]["template"]["spec"]["containers"][0]["args"])


class RealCheckers(unittest.TestCase):
    """The chart's alert rules and the documented Alertmanager receiver, checked by the
    tools that will read them: promtool and amtool parse strictly (an unknown field, a
    bad PromQL expression or duration fails)."""

    def test_prometheus_rules_pass_promtool(self):
        promtool = tool("promtool")
        if not promtool:
            self.skipTest("promtool not installed")
        objs = render({"monitoring": {"prometheusRule": {"enabled": True}}})
        rule = next(o for o in objs if o["kind"] == "PrometheusRule")
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            yaml.safe_dump({"groups": rule["spec"]["groups"]}, f)
            f.flush()
            out = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("7 rules found", out.stdout + out.stderr)

    def test_documented_receivers_pass_amtool(self):
        amtool = tool("amtool")
        if not amtool:
            self.skipTest("amtool not installed")
        docs = [(os.path.join(CHART, "README.md"), "## Alertmanager receiver"),
                (os.path.join(CHART, "..", "..", "docs", "deploy.md"), "## Wire Alertmanager")]
        for path, heading in docs:
            blocks = yaml_blocks(path, heading)
            self.assertTrue(blocks, f"no yaml block under {heading} in {path}")
            for config in blocks:
                with self.subTest(path):
                    # The docs show the receiver and its route; a whole config also needs
                    # the root route's default receiver, which is the reader's own.
                    config["route"].setdefault("receiver", "firebreak")
                    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
                        yaml.safe_dump(config, f)
                        f.flush()
                        out = subprocess.run([amtool, "check-config", f.name], capture_output=True, text=True)
                    self.assertEqual(out.returncode, 0, out.stdout + out.stderr)


class PoliciesCatchBreakage(unittest.TestCase):
    """Each check fails on the mistake it exists for."""

    def setUp(self):
        self.objs = render()

    def find(self, kind, suffix):
        return next(o for o in self.objs if o["kind"] == kind and o["metadata"]["name"].endswith(suffix))

    def pod(self, kind, suffix):
        o = self.find(kind, suffix)
        return o["spec"]["jobTemplate"]["spec"]["template"]["spec"] if kind == "CronJob" else o["spec"]["template"]["spec"]

    def assertCaught(self, check):
        self.assertNotEqual(check(self.objs), [], f"{check.__name__} missed the breakage")

    def test_a_service_selecting_two_workloads(self):
        svc = self.find("Service", "-gateway")
        del svc["spec"]["selector"]["app.kubernetes.io/component"]
        self.assertCaught(policy.service_selectors)

    def test_a_container_without_limits(self):
        del self.pod("Deployment", "-embedder")["containers"][0]["resources"]["limits"]
        self.assertCaught(policy.resources)

    def test_a_cronjob_without_a_deadline(self):
        del self.find("CronJob", "-ingest")["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
        self.assertCaught(policy.cronjobs)

    def test_a_cronjob_allowing_overlap(self):
        self.find("CronJob", "-ingest")["spec"]["concurrencyPolicy"] = "Allow"
        self.assertCaught(policy.cronjobs)

    def test_a_probe_depending_on_the_embedder(self):
        c = self.pod("Deployment", "-gateway")["containers"][0]
        c["livenessProbe"] = {"httpGet": {"host": "fb-firebreak-embedder", "path": "/healthz", "port": 8081}}
        self.assertCaught(policy.probes)

    def test_a_pod_failing_restricted(self):
        c = self.pod("Deployment", "-gateway")["containers"][0]
        c["securityContext"]["allowPrivilegeEscalation"] = True
        self.assertCaught(policy.restricted)

    def test_a_host_path(self):
        self.pod("Deployment", "-gateway")["volumes"].append({"name": "host", "hostPath": {"path": "/var/log"}})
        self.assertCaught(policy.restricted)

    def test_a_mounted_token(self):
        self.pod("CronJob", "-ingest")["automountServiceAccountToken"] = True
        self.assertCaught(policy.service_accounts)

    def test_a_config_map_over_a_written_path(self):
        spec = self.pod("Deployment", "-gateway")
        spec["volumes"].append({"name": "cfg", "configMap": {"name": "x"}})
        spec["containers"][0]["volumeMounts"].append({"name": "cfg", "mountPath": "/data/conf", "readOnly": True})
        self.assertCaught(policy.config_mounts)

    def test_an_embedder_open_to_everyone(self):
        np = self.find("NetworkPolicy", "-embedder")
        np["spec"]["ingress"][0]["from"].append({"podSelector": {"matchLabels": {"app": "anything"}}})
        self.assertCaught(policy.network_policies)

    def test_a_cronjob_that_may_call_out(self):
        np = self.find("NetworkPolicy", "-ingest")
        np["spec"]["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]})
        self.assertCaught(policy.network_policies)

    def test_bulk_above_the_gateway(self):
        pc = self.find("PriorityClass", "-ingest")
        pc["value"] = 10**9
        self.assertCaught(policy.priorities)

    def test_no_architecture_constraint(self):
        del self.pod("Deployment", "-embedder")["affinity"]["nodeAffinity"]
        self.assertCaught(policy.architectures)

    def test_replicas_without_a_budget(self):
        objs = render(preset(os.path.join(CHART, "presets", "ha.yaml")))
        objs = [o for o in objs if o["kind"] != "PodDisruptionBudget"]
        self.assertNotEqual(policy.high_availability(objs), [])


if __name__ == "__main__":
    unittest.main()
