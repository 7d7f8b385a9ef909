"""The chart's lessons as checks on rendered manifests.

Each check takes the list of rendered objects and returns the problems it finds (empty:
the lesson holds). test_chart.py runs them on every values preset, and on deliberately
broken manifests to show that each one catches what it is for.
"""

RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}

# Pods that are not rendered but share a namespace with the release: a CloudNativePG
# instance and a Bitnami PostgreSQL, each labelled with the release's instance name.
FOREIGN_PODS = [
    {"cnpg.io/cluster": "fb-firebreak-db", "app.kubernetes.io/name": "postgresql",
     "app.kubernetes.io/instance": "fb", "app.kubernetes.io/component": "database"},
    {"app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": "fb",
     "app.kubernetes.io/component": "primary"},
]


def workloads(objs):
    """(object, pod spec, pod labels) of every workload."""
    out = []
    for o in objs:
        k = o["kind"]
        if k in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            t = o["spec"]["template"]
        elif k == "CronJob":
            t = o["spec"]["jobTemplate"]["spec"]["template"]
        else:
            continue
        out.append((o, t["spec"], t["metadata"].get("labels", {})))
    return out


def containers(spec):
    return spec.get("initContainers", []) + spec.get("containers", [])


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def name(o):
    return f'{o["kind"]}/{o["metadata"]["name"]}'


def service_selectors(objs):
    """Every Service selects exactly one workload, and names its component."""
    problems = []
    pods = [(name(o), labels) for o, _, labels in workloads(objs)] + [(f"foreign pod {i}", l) for i, l in enumerate(FOREIGN_PODS)]
    for s in (o for o in objs if o["kind"] == "Service"):
        sel = s["spec"].get("selector") or {}
        if "app.kubernetes.io/component" not in sel:
            problems.append(f"{name(s)}: selector lacks app.kubernetes.io/component")
        hit = [n for n, labels in pods if matches(sel, labels)]
        if len(hit) != 1:
            problems.append(f"{name(s)}: selector {sel} matches {hit or 'nothing'}")
    return problems


def resources(objs):
    """CPU and memory requests and limits on every container."""
    problems = []
    for o, spec, _ in workloads(objs):
        for c in containers(spec):
            r = c.get("resources", {})
            for kind in ("requests", "limits"):
                for res in ("cpu", "memory"):
                    if res not in r.get(kind, {}):
                        problems.append(f"{name(o)}/{c['name']}: no {res} {kind[:-1]}")
    return problems


def cronjobs(objs):
    """One run at a time, each with a deadline, bounded retries and history."""
    problems = []
    for o in (o for o in objs if o["kind"] == "CronJob"):
        s = o["spec"]
        js = s["jobTemplate"]["spec"]
        if s.get("concurrencyPolicy") != "Forbid":
            problems.append(f"{name(o)}: concurrencyPolicy is not Forbid")
        for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
            if key not in s:
                problems.append(f"{name(o)}: no {key}")
        for key in ("activeDeadlineSeconds", "backoffLimit"):
            if key not in js:
                problems.append(f"{name(o)}: no {key}")
    return problems


def probes(objs):
    """Liveness on /healthz only; the gateway ready on /readyz; no probe reaches another
    service (an HTTP probe on the container's own port, never exec or a host)."""
    problems = []
    for o, spec, labels in workloads(objs):
        for c in spec.get("containers", []):
            for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                p = c.get(kind)
                if p is None:
                    continue
                get = p.get("httpGet")
                if not get or "host" in get:
                    problems.append(f"{name(o)}/{c['name']}: {kind} is not an HTTP probe of the container itself")
                    continue
                own_ports = {pt.get("name") for pt in c.get("ports", [])} | {pt["containerPort"] for pt in c.get("ports", [])}
                if get.get("port") not in own_ports:
                    problems.append(f"{name(o)}/{c['name']}: {kind} targets port {get.get('port')}, not its own")
                if kind == "livenessProbe" and get.get("path") != "/healthz":
                    problems.append(f"{name(o)}/{c['name']}: liveness probe hits {get.get('path')}, not /healthz")
                if kind == "readinessProbe" and labels.get("app.kubernetes.io/component") == "gateway" and get.get("path") != "/readyz":
                    problems.append(f"{name(o)}/{c['name']}: gateway readiness hits {get.get('path')}, not /readyz")
            if labels.get("app.kubernetes.io/component") in ("gateway", "embedder") and "livenessProbe" not in c:
                problems.append(f"{name(o)}/{c['name']}: no liveness probe")
    return problems


def restricted(objs):
    """The `restricted` Pod Security Standard, for every pod."""
    problems = []
    for o, spec, _ in workloads(objs):
        psc = spec.get("securityContext", {})
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(flag):
                problems.append(f"{name(o)}: {flag}")
        for v in spec.get("volumes", []):
            kinds = set(v) - {"name"}
            if not kinds <= RESTRICTED_VOLUME_TYPES:
                problems.append(f"{name(o)}: volume {v['name']} of type {sorted(kinds)}")
        for c in containers(spec):
            sc = c.get("securityContext", {})
            where = f"{name(o)}/{c['name']}"
            if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
                problems.append(f"{where}: runAsNonRoot is not true")
            if sc.get("runAsUser", psc.get("runAsUser")) == 0:
                problems.append(f"{where}: runs as uid 0")
            if sc.get("privileged"):
                problems.append(f"{where}: privileged")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities not all dropped")
            if set(sc.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
                problems.append(f"{where}: adds capabilities")
            seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                problems.append(f"{where}: seccomp profile {seccomp}")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem is writable")
            if c.get("ports") and any(p.get("hostPort") for p in c["ports"]):
                problems.append(f"{where}: hostPort")
    return problems


def service_accounts(objs):
    """No pod mounts an API token, and nothing grants API access."""
    problems = [f"{name(o)}: RBAC object" for o in objs if o["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")]
    for o, spec, _ in workloads(objs):
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{name(o)}: service account token mounted")
    return problems


def config_mounts(objs):
    """ConfigMaps and Secrets are mounted read-only, never over or under a path that
    something writes (a volume the pod writes, or a path named in its environment)."""
    problems = []
    for o, spec, _ in workloads(objs):
        kinds = {v["name"]: (set(v) - {"name"}) for v in spec.get("volumes", [])}
        for c in containers(spec):
            mounts = c.get("volumeMounts", [])
            written = [m["mountPath"] for m in mounts if not kinds.get(m["name"], set()) & {"configMap", "secret", "projected"} and not m.get("readOnly")]
            for m in mounts:
                if not kinds.get(m["name"], set()) & {"configMap", "secret", "projected"}:
                    continue
                where = f"{name(o)}/{c['name']}: {m['name']} at {m['mountPath']}"
                if not m.get("readOnly"):
                    problems.append(f"{where} is not read-only")
                for w in written:
                    if w == m["mountPath"] or w.startswith(m["mountPath"].rstrip("/") + "/") or m["mountPath"].startswith(w.rstrip("/") + "/"):
                        problems.append(f"{where} overlaps the written path {w}")
    return problems


def network_policies(objs):
    """Every workload is fenced both ways; the embedder accepts only the gateway; the
    CronJob calls only the gateway (and DNS)."""
    problems = []
    pols = [o for o in objs if o["kind"] == "NetworkPolicy"]
    if not pols:
        return ["no NetworkPolicy"]
    comp_of = {}
    for o, _, labels in workloads(objs):
        comp_of[name(o)] = labels.get("app.kubernetes.io/component")
        mine = [p for p in pols if matches(p["spec"]["podSelector"].get("matchLabels", {}), labels)]
        types = {t for p in mine for t in p["spec"].get("policyTypes", [])}
        if not {"Ingress", "Egress"} <= types:
            problems.append(f"{name(o)}: not fenced both ways (policy types {sorted(types)})")
        comp = labels.get("app.kubernetes.io/component")
        for p in mine:
            if comp == "embedder":
                for rule in p["spec"].get("ingress", []):
                    for peer in rule.get("from", []):
                        sel = peer.get("podSelector", {}).get("matchLabels", {})
                        if sel.get("app.kubernetes.io/component") != "gateway" and "namespaceSelector" not in peer:
                            problems.append(f"{name(o)}: accepts {peer}")
                if p["spec"].get("egress"):
                    problems.append(f"{name(o)}: embedder may call out")
            if comp == "ingest":
                for rule in p["spec"].get("egress", []):
                    ports = {pt.get("port") for pt in rule.get("ports", [])}
                    for peer in rule.get("to", []):
                        sel = peer.get("podSelector", {}).get("matchLabels", {})
                        if ports == {53}:
                            continue
                        if sel.get("app.kubernetes.io/component") != "gateway":
                            problems.append(f"{name(o)}: may call {peer}")
                if p["spec"].get("ingress"):
                    problems.append(f"{name(o)}: CronJob accepts connections")
    return problems


def priorities(objs):
    """The gateway outranks bulk work."""
    classes = {o["metadata"]["name"]: o["value"] for o in objs if o["kind"] == "PriorityClass"}
    of = {}
    for o, spec, labels in workloads(objs):
        of[labels.get("app.kubernetes.io/component")] = classes.get(spec.get("priorityClassName"), 0)
    if "gateway" in of and "ingest" in of and not of["gateway"] > of["ingest"]:
        return [f"gateway priority {of['gateway']} is not above the ingest's {of['ingest']}"]
    return []


def architectures(objs):
    """Single-arch images: every pod is kept on nodes of that architecture."""
    problems = []
    for o, spec, _ in workloads(objs):
        terms = spec.get("affinity", {}).get("nodeAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", {}).get("nodeSelectorTerms", [])
        keys = {e["key"] for t in terms for e in t.get("matchExpressions", [])} | set(spec.get("nodeSelector", {}))
        if "kubernetes.io/arch" not in keys:
            problems.append(f"{name(o)}: no kubernetes.io/arch constraint")
    return problems


def high_availability(objs):
    """With more than one gateway: a disruption budget and spreading over nodes."""
    problems = []
    for o, spec, labels in workloads(objs):
        if labels.get("app.kubernetes.io/component") != "gateway" or o["spec"].get("replicas", 1) <= 1:
            continue
        if not any(p["kind"] == "PodDisruptionBudget" and matches(p["spec"]["selector"]["matchLabels"], labels) for p in objs):
            problems.append(f"{name(o)}: {o['spec']['replicas']} replicas and no PodDisruptionBudget")
        if "podAntiAffinity" not in spec.get("affinity", {}):
            problems.append(f"{name(o)}: {o['spec']['replicas']} replicas and no anti-affinity")
    return problems


ALL = [service_selectors, resources, cronjobs, probes, restricted, service_accounts, config_mounts,
       network_policies, priorities, architectures, high_availability]
