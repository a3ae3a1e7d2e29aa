#!/usr/bin/python3
"""ops_deploy_check - structural checks of compose.yaml and k8s/ output.

Run by tests/integration/ops_deploy_test.c on what `docker-compose config`
and `kubectl kustomize` print (so anchors, overlays and generators are
resolved exactly as the tools resolve them), against the variables the
daemons themselves declare (scripts/gen-config-doc.sh --list).

    ops_deploy_check.py --vars VARS.tsv compose RENDERED.yaml
    ops_deploy_check.py --vars VARS.tsv k8s NAME RENDERED.yaml [--pinned]
    ops_deploy_check.py dockerfile Dockerfile .dockerignore
    ops_deploy_check.py hpa-metrics RENDERED.yaml
    ops_deploy_check.py dockerfile-build Dockerfile   (the build stage's RUN
                                                      make line, for sh)
    ops_deploy_check.py runtime-libs Dockerfile BINARY...

Prints one line per problem and exits 1 if there is any; prints "ok ..."
and exits 0 otherwise.  Needs only python3 and python3-yaml (a dependency
of Debian's docker-compose, which scripts/deps.sh installs for the tests).
"""
import re
import sys

import yaml

DAEMONS = ["media-edge", "ai-session", "reasoner", "rate-limiter", "persister"]
HTTP_PORT = {"media-edge": 8080, "ai-session": 9101, "reasoner": 9102,
             "rate-limiter": 9103, "persister": 9104}
# Per-pod values from the downward API: not daemon settings.
K8S_HELPER_VARS = {"POD_IP", "POD_NAME", "POD_NAMESPACE"}
# HPA metric per autoscaled daemon: the gauge of calls in progress.
HPA_DAEMONS = {"media-edge", "ai-session"}
SPOOL_DIR_VAR = "PERSISTER_SPOOL_DIR"
# Not secret, but may come as NAME_FILE (certificates): --list says "file".
FILE_VARS = set()
# The bus must be authenticated in both deployments: every NNG address
# tls+tcp://, and each daemon's own certificate, key and CA mounted.
BUS_TLS_VARS = ("BUS_TLS_CERT", "BUS_TLS_KEY", "BUS_TLS_CA")
NNG_URL = re.compile(r"^(tcp|tcp4|tcp6|ipc|inproc|ws|tls\+tcp[46]?)://")

problems = []


def bad(where, msg):
    problems.append("%s: %s" % (where, msg))


def load_vars(path):
    """daemon -> {NAME: (required, secret, default)}"""
    out = {d: {} for d in DAEMONS}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) < 5:
                bad(path, "malformed line %r" % line)
                continue
            d, name, req, sec, default = parts[:5]
            out.setdefault(d, {})[name] = (req == "required",
                                           sec == "secret", default)
            if sec == "file":
                FILE_VARS.add(name)
    for d in DAEMONS:
        if not out.get(d):
            bad(path, "no variables for %s (is it built?)" % d)
    return out


def duration_s(v):
    """'330s', '5m', '1m30s', '330' -> seconds."""
    if isinstance(v, (int, float)):
        return float(v)
    total, n = 0.0, 0
    for num, unit in re.findall(r"([0-9.]+)(us|ms|s|m|h)?", str(v)):
        n += 1
        total += float(num) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60,
                               "h": 3600, "": 1}[unit or ""]
    return total if n else -1


def check_env(where, daemon, env, cvars, mounted_file):
    """env: {NAME: value or None}.  mounted_file(path) -> bool."""
    known = cvars[daemon]
    for name, val in env.items():
        base = name[:-5] if name.endswith("_FILE") else None
        if name in known:
            if known[name][1] and val not in (None, ""):
                # A literal secret in the manifest: must come as a file.
                bad(where, "%s: secret given as a literal value; use "
                    "%s_FILE" % (name, name))
            continue
        if base is not None and base in known and \
                (known[base][1] or base in FILE_VARS):
            if not val or not mounted_file(val):
                bad(where, "%s=%s: not a file mounted in the container"
                    % (name, val))
            continue
        if name in K8S_HELPER_VARS:
            continue
        bad(where, "%s: not a variable %s reads (typo, or gone from "
            "its config?)" % (name, daemon))
    for name, (req, secret, default) in known.items():
        given = name in env or (secret and name + "_FILE" in env)
        if req and not given:
            bad(where, "required variable %s is not set" % name)
        # A loopback default is right on one host and wrong in a container.
        if "127.0.0.1" in default and not given:
            bad(where, "%s keeps its one-host default %s" % (name, default))
        # The listen address (0.0.0.0) cannot be dialled by a peer.
        if name.endswith("_ADVERTISE_URL") and not env.get(name):
            bad(where, "%s is not set: peers would be told the listen "
                "address" % name)
        if given and name in env and isinstance(env[name], str) and \
                "127.0.0.1" in env[name]:
            bad(where, "%s=%s: loopback address in a container"
                % (name, env[name]))


def check_bus_tls(where, env, own_file):
    """Every bus address in env is tls+tcp://, and the three BUS_TLS files
    are given and mounted.  own_file(var, path) -> None or a complaint
    that the file is not this daemon's own (one certificate per daemon)."""
    urls = 0
    for name, val in env.items():
        if not isinstance(val, str):
            continue
        for u in [x.strip() for x in val.split(",") if x.strip()]:
            if not NNG_URL.match(u):
                continue
            urls += 1
            if not u.startswith("tls+tcp"):
                bad(where, "%s=%s: the bus must be tls+tcp:// (peers "
                    "authenticated by certificate; docs/security.md)"
                    % (name, u))
    if urls == 0:
        bad(where, "no bus address at all (cannot check TLS)")
    for v in BUS_TLS_VARS:
        path = env.get(v + "_FILE")
        if not path:
            bad(where, "%s_FILE is not set: the bus needs this daemon's "
                "certificate, key and CA" % v)
            continue
        why = own_file(v, path)
        if why:
            bad(where, "%s_FILE=%s: %s" % (v, path, why))


def shutdown_ms(daemon, env, cvars):
    v = env.get("SHUTDOWN_TIMEOUT_MS")
    if v is None:
        v = cvars[daemon].get("SHUTDOWN_TIMEOUT_MS", (0, 0, "10000"))[2]
    try:
        return int(v)
    except ValueError:
        return -1


# ---------------------------------------------------------------- compose

def check_compose(path, cvars):
    with open(path) as f:
        doc = yaml.safe_load(f)
    svcs = doc.get("services", {})
    want = set(DAEMONS) | {"postgres", "callctl"}
    if set(svcs) != want:
        bad(path, "services are %s, want %s" % (sorted(svcs), sorted(want)))
    tool = svcs.pop("callctl", None)
    if tool is not None:
        # The operators' tool: on demand only, same hardening, and every
        # address it reads pointed at a service, not at itself.
        if "tools" not in (tool.get("profiles") or []):
            bad("compose callctl", "not behind a profile: would start "
                "with the stack")
        if tool.get("read_only") is not True or tool.get("ports"):
            bad("compose callctl", "writable root or published ports")
        for k, v in (tool.get("environment") or {}).items():
            if "127.0.0.1" in str(v) or "0.0.0.0" in str(v):
                bad("compose callctl", "%s=%s is not a service address"
                    % (k, v))
        if len([k for k in (tool.get("environment") or {})
                if k.endswith("_URL")]) < 12:
            bad("compose callctl", "does not set every address callctl "
                "reads")
        tmine = [x["source"] if isinstance(x, dict) else x
                 for x in (tool.get("secrets") or [])]

        def tool_own(var, path):
            m = re.fullmatch(r"/run/secrets/([A-Za-z0-9_.-]+)", path)
            want = "bus_ca" if var == "BUS_TLS_CA" else "bus_callctl_%s" % (
                "key" if var == "BUS_TLS_KEY" else "crt")
            if m is None or m.group(1) != want or want not in tmine:
                return "want the compose secret %s, mounted" % want
            return None
        check_bus_tls("compose callctl", tool.get("environment") or {},
                      tool_own)
    secrets = doc.get("secrets", {})
    for name, s in svcs.items():
        w = "compose %s" % name
        if "healthcheck" not in s or not s["healthcheck"].get("test"):
            bad(w, "no healthcheck")
        if s.get("restart") not in ("always", "unless-stopped", "on-failure"):
            bad(w, "restart policy %r" % s.get("restart"))
        for dep, cond in (s.get("depends_on") or {}).items():
            if cond.get("condition") != "service_healthy":
                bad(w, "depends_on %s without condition service_healthy"
                    % dep)
        if name not in DAEMONS:
            continue
        if s.get("read_only") is not True:
            bad(w, "root filesystem not read_only")
        user = str(s.get("user", "0"))
        if user.split(":")[0] in ("0", "root", ""):
            bad(w, "runs as root")
        if "ALL" not in (s.get("cap_drop") or []):
            bad(w, "cap_drop does not drop ALL")
        if (s.get("build") or {}).get("target") != name:
            bad(w, "build target is not %s" % name)
        if not str(s.get("image", "")).split(":")[0].endswith("/" + name):
            bad(w, "image %r is not .../%s" % (s.get("image"), name))
        test = " ".join(s.get("healthcheck", {}).get("test", []))
        if "/health" not in test or ":%d/" % HTTP_PORT[name] not in test:
            bad(w, "healthcheck %r does not ask :%d/health"
                % (test, HTTP_PORT[name]))
        if s.get("ports") and name != "media-edge":
            bad(w, "publishes ports; only media-edge may")
        env = {k: v for k, v in (s.get("environment") or {}).items()}
        mine = [x["source"] if isinstance(x, dict) else x
                for x in (s.get("secrets") or [])]
        for sec in mine:
            if sec not in secrets or "file" not in secrets[sec]:
                bad(w, "secret %s is not a file secret" % sec)

        def mounted(p, mine=mine):
            m = re.fullmatch(r"/run/secrets/([A-Za-z0-9_.-]+)", p or "")
            return m is not None and m.group(1) in mine
        check_env(w, name, env, cvars, mounted)

        def own(var, path, name=name):
            m = re.fullmatch(r"/run/secrets/([A-Za-z0-9_.-]+)", path)
            src = m.group(1) if m else ""
            want = "bus_ca" if var == "BUS_TLS_CA" else "bus_%s_%s" % (
                name.replace("-", "_"),
                "key" if var == "BUS_TLS_KEY" else "crt")
            if src != want:
                return "want the compose secret %s" % want
            return None
        check_bus_tls(w, env, own)
        grace = duration_s(s.get("stop_grace_period", "10s"))
        need = shutdown_ms(name, env, cvars) / 1000.0
        if grace < need:
            bad(w, "stop_grace_period %ss is shorter than "
                "SHUTDOWN_TIMEOUT_MS (%ss): the engine would SIGKILL"
                % (grace, need))
        if name == "persister":
            spool = env.get(SPOOL_DIR_VAR,
                            cvars[name].get(SPOOL_DIR_VAR, (0, 0, ""))[2])
            vols = [v.get("target") if isinstance(v, dict) else
                    str(v).split(":")[1] for v in (s.get("volumes") or [])]
            if spool not in vols:
                bad(w, "no volume at the journal %s" % spool)
    if "media-edge" in svcs and not svcs["media-edge"].get("ports"):
        bad("compose media-edge", "publishes no port")


# -------------------------------------------------------------------- k8s

def labels_match(selector, labels):
    ml = (selector or {}).get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in ml.items()):
        return False
    for e in (selector or {}).get("matchExpressions") or []:
        v = labels.get(e["key"])
        op = e["operator"]
        if op == "In" and v not in e.get("values", []):
            return False
        if op == "NotIn" and v in e.get("values", []):
            return False
        if op == "Exists" and v is None:
            return False
        if op == "DoesNotExist" and v is not None:
            return False
    return bool(ml or (selector or {}).get("matchExpressions")) or \
        selector == {}


API = {"Deployment": "apps/v1", "StatefulSet": "apps/v1",
       "Service": "v1", "ConfigMap": "v1", "Secret": "v1",
       "ServiceAccount": "v1", "PodDisruptionBudget": "policy/v1",
       "HorizontalPodAutoscaler": "autoscaling/v2",
       "NetworkPolicy": "networking.k8s.io/v1",
       "Ingress": "networking.k8s.io/v1", "Job": "batch/v1"}


def probe_port_ok(probe, ports):
    hg = probe.get("httpGet")
    if hg is None:
        return "exec" in probe or "tcpSocket" in probe
    p = hg.get("port")
    return p in ports["names"] or p in ports["numbers"]


def check_container(w, c, daemon, cvars, pod, objs, is_ours):
    ports = {"names": {p.get("name") for p in c.get("ports", [])},
             "numbers": {p.get("containerPort") for p in c.get("ports", [])}}
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        p = c.get(kind)
        if not p:
            bad(w, "no %s" % kind)
        elif not probe_port_ok(p, ports):
            bad(w, "%s on a port the container does not declare" % kind)
    if is_ours:
        lp = (c.get("livenessProbe") or {}).get("httpGet", {}).get("path")
        rp = (c.get("readinessProbe") or {}).get("httpGet", {}).get("path")
        sp = (c.get("startupProbe") or {}).get("httpGet", {}).get("path")
        if lp != "/health" or sp != "/health":
            bad(w, "liveness/startup probe %s/%s, want /health (which "
                "never depends on the database)" % (lp, sp))
        if rp != "/ready":
            bad(w, "readiness probe %s, want /ready" % rp)
        if HTTP_PORT[daemon] not in ports["numbers"]:
            bad(w, "does not declare its HTTP port %d" % HTTP_PORT[daemon])
        if not (c.get("lifecycle") or {}).get("preStop"):
            bad(w, "no preStop hook")
    res = c.get("resources") or {}
    for k in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in (res.get(k) or {}):
                bad(w, "no resources.%s.%s" % (k, r))
    sc = c.get("securityContext") or {}
    if sc.get("allowPrivilegeEscalation") is not False:
        bad(w, "allowPrivilegeEscalation is not false")
    if sc.get("readOnlyRootFilesystem") is not True:
        bad(w, "readOnlyRootFilesystem is not true")
    if sc.get("privileged"):
        bad(w, "privileged")
    caps = sc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []) or caps.get("add"):
        bad(w, "capabilities must drop ALL and add none")
    if not (sc.get("runAsNonRoot") or
            (pod.get("securityContext") or {}).get("runAsNonRoot")):
        bad(w, "runAsNonRoot is not set")
    if not is_ours:
        return
    # Environment: known variables, required ones set, secrets as files.
    env = {}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
        elif "valueFrom" in e:
            vf = e["valueFrom"]
            ref = vf.get("configMapKeyRef") or vf.get("secretKeyRef")
            if vf.get("secretKeyRef") is not None:
                env[e["name"]] = "<secretKeyRef>"
                bad(w, "%s from secretKeyRef: mount secrets as files and "
                    "use NAME_FILE" % e["name"])
            elif ref is not None:
                cm = objs.get(("ConfigMap", ref["name"]))
                if cm is None:
                    bad(w, "%s: no ConfigMap %s" % (e["name"], ref["name"]))
                    env[e["name"]] = None
                elif ref["key"] not in (cm.get("data") or {}) and \
                        ref.get("optional") is True:
                    pass    # unset unless an overlay adds the key
                elif ref["key"] not in (cm.get("data") or {}):
                    bad(w, "%s: ConfigMap %s has no key %s"
                        % (e["name"], ref["name"], ref["key"]))
                    env[e["name"]] = None
                else:
                    env[e["name"]] = str(cm["data"][ref["key"]])
            else:
                env[e["name"]] = None     # fieldRef: the downward API
        else:
            env[e["name"]] = ""
    files = mounted_files(w, c, pod, objs)

    def mounted(p):
        return p in files
    check_env(w, daemon, env, cvars, mounted)
    srcs = secret_sources(c, pod)

    def own(var, path):
        want = "bus-tls-%s" % daemon
        if srcs.get(path) != want:
            return "not from this daemon's own Secret %s" % want
        return None
    check_bus_tls(w, env, own)
    grace = pod.get("terminationGracePeriodSeconds", 30)
    pre = 0
    cmd = ((c.get("lifecycle") or {}).get("preStop") or {}).get(
        "exec", {}).get("command", [])
    if len(cmd) == 2 and cmd[0] == "sleep":
        pre = float(cmd[1])
    need = shutdown_ms(daemon, env, cvars) / 1000.0 + pre
    if grace < need:
        bad(w, "terminationGracePeriodSeconds %s < preStop %ss + "
            "SHUTDOWN_TIMEOUT_MS: the kubelet would SIGKILL" % (grace, pre))
    if daemon == "persister":
        spool = env.get(SPOOL_DIR_VAR) or \
            cvars[daemon].get(SPOOL_DIR_VAR, (0, 0, ""))[2]
        if spool not in [m["mountPath"] for m in c.get("volumeMounts", [])]:
            bad(w, "journal %s is not a mounted volume" % spool)
    return env


def secret_sources(c, pod):
    """Path of each file from a Secret volume -> that Secret's name."""
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    out = {}
    for m in c.get("volumeMounts", []):
        v = vols.get(m["name"])
        if v is None or "secret" not in v:
            continue
        for it in v["secret"].get("items") or []:
            out[m["mountPath"].rstrip("/") + "/" + it["path"]] = \
                v["secret"].get("secretName")
    return out


def mounted_files(w, c, pod, objs):
    """Paths of secret files the container sees."""
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    files = set()
    for m in c.get("volumeMounts", []):
        v = vols.get(m["name"])
        if v is None or "secret" not in v:
            continue
        sec = v["secret"]
        items = sec.get("items")
        s = objs.get(("Secret", sec.get("secretName")))
        if items is None:
            keys = list((s or {}).get("data", {}) or {}) + \
                list((s or {}).get("stringData", {}) or {})
            items = [{"key": k, "path": k} for k in keys]
        for it in items:
            if s is not None and it["key"] not in (s.get("data") or {}) \
                    and it["key"] not in (s.get("stringData") or {}):
                bad(w, "Secret %s has no key %s" % (sec.get("secretName"),
                                                     it["key"]))
            files.add(m["mountPath"].rstrip("/") + "/" + it["path"])
    return files


def check_k8s(name, path, cvars, pinned):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    objs = {}
    for d in docs:
        k, md = d.get("kind"), d.get("metadata") or {}
        w = "%s %s/%s" % (name, k, md.get("name"))
        if not k or not md.get("name"):
            bad(w, "no kind or metadata.name")
            continue
        if API.get(k) is None:
            bad(w, "unexpected kind")
        elif d.get("apiVersion") != API[k]:
            bad(w, "apiVersion %s, want %s" % (d.get("apiVersion"), API[k]))
        if not md.get("namespace") and name != "base" and k not in ():
            bad(w, "no namespace")
        objs[(k, md["name"])] = d

    workloads = [d for d in docs if d.get("kind") in
                 ("Deployment", "StatefulSet")]
    # The pre-flight: callctl doctor as a Job, as locked down as the
    # daemons and able to reach them (the operator label).
    jobs = [d for d in docs if d.get("kind") == "Job"
            and "doctor" in (d["spec"]["template"]["spec"]["containers"][0]
                             .get("args") or [])]
    if not jobs:
        bad(name, "no Job running callctl doctor")
    for j in jobs:
        w = "%s Job/%s" % (name, j["metadata"]["name"])
        pod = j["spec"]["template"]["spec"]
        psc = pod.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True or \
                pod.get("automountServiceAccountToken") is not False:
            bad(w, "runs as root or mounts a service account token")
        for c in pod["containers"]:
            sc = c.get("securityContext") or {}
            if sc.get("readOnlyRootFilesystem") is not True or \
                    "ALL" not in (sc.get("capabilities") or {}).get(
                        "drop", []):
                bad(w, "container %s: writable root or capabilities"
                    % c["name"])
        # It talks to every daemon on the bus: TLS, with callctl's own
        # certificate.
        c = pod["containers"][0]
        jsrcs = secret_sources(c, pod)

        def job_own(var, path, jsrcs=jsrcs):
            if jsrcs.get(path) != "bus-tls-callctl":
                return "not from callctl's own Secret bus-tls-callctl"
            return None
        check_bus_tls(w, {e["name"]: e.get("value") for e in
                          c.get("env") or []}, job_own)
        labels = j["spec"]["template"]["metadata"].get("labels") or {}
        if labels.get("callbridge.io/operator") != "true":
            bad(w, "no callbridge.io/operator label: the NetworkPolicies "
                "keep it from the daemons")
    pdbs = [d for d in docs if d.get("kind") == "PodDisruptionBudget"]
    nps = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    svcs = [d for d in docs if d.get("kind") == "Service"]
    hpas = [d for d in docs if d.get("kind") == "HorizontalPodAutoscaler"]
    names = {d["metadata"]["name"] for d in workloads}
    for dmn in DAEMONS:
        if dmn not in names:
            bad(name, "no workload for %s" % dmn)
    if ("StatefulSet", "persister") not in objs:
        bad(name, "persister is not a StatefulSet")
    else:
        vct = objs[("StatefulSet", "persister")]["spec"].get(
            "volumeClaimTemplates") or []
        if not vct:
            bad(name, "persister has no volumeClaimTemplates for its journal")

    # default deny
    if not any(np["spec"].get("podSelector") == {} and
               set(np["spec"].get("policyTypes", [])) >= {"Ingress", "Egress"}
               and not np["spec"].get("ingress") and
               not np["spec"].get("egress") for np in nps):
        bad(name, "no default-deny NetworkPolicy (podSelector {}, Ingress "
            "and Egress, no rules)")
    if not any(any(p.get("port") == 53 for r in np["spec"].get("egress", [])
                   for p in r.get("ports", [])) for np in nps):
        bad(name, "no NetworkPolicy lets pods reach DNS")

    images = {}
    for wl in workloads:
        wn = wl["metadata"]["name"]
        w = "%s %s/%s" % (name, wl["kind"], wn)
        pod = wl["spec"]["template"]["spec"]
        plabels = wl["spec"]["template"]["metadata"].get("labels", {})
        if not labels_match(wl["spec"].get("selector"), plabels):
            bad(w, "selector does not match the pod template")
        psc = pod.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True:
            bad(w, "pod securityContext.runAsNonRoot is not true")
        if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            bad(w, "pod seccompProfile is not RuntimeDefault")
        if pod.get("automountServiceAccountToken") is not False:
            bad(w, "automountServiceAccountToken is not false")
        if "terminationGracePeriodSeconds" not in pod:
            bad(w, "no terminationGracePeriodSeconds")
        if not any(labels_match(p["spec"].get("selector"), plabels)
                   for p in pdbs):
            bad(w, "no PodDisruptionBudget")
        own = [np for np in nps if np["spec"].get("podSelector") != {} and
               labels_match(np["spec"].get("podSelector"), plabels) and
               "Ingress" in np["spec"].get("policyTypes", [])]
        if not own:
            bad(w, "no NetworkPolicy of its own (only the default deny)")
        ours = wn in DAEMONS
        for c in pod.get("containers", []):
            cw = "%s container %s" % (w, c.get("name"))
            if ours and c.get("name") != wn:
                bad(cw, "container is not named after the daemon")
            check_container(cw, c, wn, cvars, pod, objs, ours)
            if ours:
                images[wn] = c.get("image", "")
        if ours and plabels.get("app.kubernetes.io/name") != wn:
            bad(w, "pod label app.kubernetes.io/name is not %s" % wn)
        if wn in HPA_DAEMONS and not any(
                h["spec"]["scaleTargetRef"]["name"] == wn for h in hpas):
            bad(w, "no HorizontalPodAutoscaler")

    # images: one registry and tag for all five, named after the daemon
    regs, tags = set(), set()
    for wn, img in images.items():
        m = re.fullmatch(r"(.*/)?([a-z0-9-]+)(?::([A-Za-z0-9._-]+))?"
                         r"(@sha256:[0-9a-f]+)?", img)
        if m is None or m.group(2) != wn:
            bad(name, "image %r of %s is not <registry>/%s:<tag>"
                % (img, wn, wn))
            continue
        regs.add(m.group(1) or "")
        tags.add(m.group(3) or "")
        if pinned and (m.group(3) in (None, "latest")):
            bad(name, "image %s is not pinned to a version" % img)
    if len(regs) > 1 or len(tags) > 1:
        bad(name, "images disagree on registry or tag: %s"
            % sorted(images.values()))

    # Services: selectors point at pods; only media-edge is exposed
    pod_labels = [w["spec"]["template"]["metadata"].get("labels", {})
                  for w in workloads]
    for s in svcs:
        w = "%s Service/%s" % (name, s["metadata"]["name"])
        sel = s["spec"].get("selector") or {}
        matched = [pl for pl in pod_labels
                   if all(pl.get(k) == v for k, v in sel.items())]
        if not sel or not matched:
            bad(w, "selector matches no pod")
        if s["spec"].get("type") in ("LoadBalancer", "NodePort") and \
                sel.get("app.kubernetes.io/name") != "media-edge":
            bad(w, "exposed outside the cluster; only media-edge may be")
    for dmn in ("media-edge", "ai-session"):
        if not any(s["spec"].get("clusterIP") == "None" and
                   s["spec"].get("selector", {}).get(
                       "app.kubernetes.io/name") == dmn for s in svcs):
            bad(name, "no headless Service for %s (pods are dialled one "
                "by one)" % dmn)
    for d in docs:
        if d.get("kind") == "Ingress":
            for r in d["spec"].get("rules", []):
                for p in r.get("http", {}).get("paths", []):
                    b = p["backend"]["service"]["name"]
                    if b != "media-edge":
                        bad("%s Ingress" % name, "routes to %s" % b)

    # NetworkPolicy: only media-edge's public port is open to everyone
    for np in nps:
        w = "%s NetworkPolicy/%s" % (name, np["metadata"]["name"])
        sel = np["spec"].get("podSelector")
        for r in np["spec"].get("ingress", []) or []:
            if r.get("from"):
                continue
            ports = [p.get("port") for p in r.get("ports", [])]
            if (sel or {}).get("matchLabels", {}).get(
                    "app.kubernetes.io/name") != "media-edge" or \
                    ports != [HTTP_PORT["media-edge"]]:
                bad(w, "ingress open to everyone on %s" % (ports or "all"))

    check_bus_policies(name, docs)

    # HPA: Pods metric (calls in progress) on the autoscaled daemons
    for h in hpas:
        w = "%s HPA/%s" % (name, h["metadata"]["name"])
        ms = [m for m in h["spec"].get("metrics", []) if m["type"] == "Pods"]
        if not ms:
            bad(w, "no Pods metric")
        if h["spec"]["minReplicas"] > h["spec"]["maxReplicas"]:
            bad(w, "minReplicas > maxReplicas")


# Who dials whom on the bus (docs/ipc.md): (from, to, port).  Exactly
# these must be open between the daemons; nothing else.
BUS_EDGES = {
    ("media-edge", "ai-session", 7011), ("media-edge", "ai-session", 7012),
    ("ai-session", "media-edge", 7001), ("ai-session", "media-edge", 7002),
    ("media-edge", "rate-limiter", 7031), ("media-edge", "persister", 7041),
    ("ai-session", "persister", 7041), ("ai-session", "reasoner", 7021),
}
ALL_PORTS = [7001, 7002, 7011, 7012, 7021, 7031, 7041,
             8080, 9101, 9102, 9103, 9104]


def peer_matches(peer, labels):
    """A NetworkPolicy peer against a pod of our own namespace."""
    if "ipBlock" in peer:
        return False        # pod IPs are not reliably ipBlock-matched
    if "namespaceSelector" in peer:
        return False        # another namespace (kube-system, monitoring)
    return labels_match(peer.get("podSelector", {}), labels)


def port_ok(rule, port):
    ports = rule.get("ports")
    return not ports or any(p.get("port") == port for p in ports)


def np_allows(nps, src, dst, port):
    """Would traffic from pod labels src to pod labels dst:port pass?"""
    def side(kind, me, other, key):
        sel = [np for np in nps if kind in np["spec"].get("policyTypes", [])
               and labels_match(np["spec"].get("podSelector"), me)]
        if not sel:
            return True
        for np in sel:
            for r in np["spec"].get(key, []) or []:
                peers = r.get("to" if key == "egress" else "from")
                if port_ok(r, port) and (not peers or any(
                        peer_matches(pe, other) for pe in peers)):
                    return True
        return False
    return side("Egress", src, dst, "egress") and \
        side("Ingress", dst, src, "ingress")


def check_bus_policies(name, docs):
    nps = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    lab = {d: {"app.kubernetes.io/name": d,
               "app.kubernetes.io/part-of": "callbridge"} for d in DAEMONS}
    for a in DAEMONS:
        for b in DAEMONS:
            if a == b:
                continue
            for port in ALL_PORTS:
                ok = np_allows(nps, lab[a], lab[b], port)
                want = (a, b, port) in BUS_EDGES
                if ok and not want:
                    bad(name, "NetworkPolicies let %s reach %s:%d, which "
                        "it never dials" % (a, b, port))
                elif want and not ok:
                    bad(name, "NetworkPolicies block %s -> %s:%d, which "
                        "it dials" % (a, b, port))
    # The operators' toolbox reaches every daemon's bus and HTTP ports.
    op = {"callbridge.io/operator": "true"}
    for b in DAEMONS:
        for port in ALL_PORTS:
            owns = {"media-edge": (7001, 7002, 8080),
                    "ai-session": (7011, 7012, 9101),
                    "reasoner": (7021, 9102), "rate-limiter": (7031, 9103),
                    "persister": (7041, 9104)}[b]
            if port in owns and not np_allows(nps, op, lab[b], port):
                bad(name, "the callctl toolbox cannot reach %s:%d"
                    % (b, port))


def hpa_metrics(path):
    with open(path) as f:
        for d in yaml.safe_load_all(f):
            if d and d.get("kind") == "HorizontalPodAutoscaler":
                for m in d["spec"].get("metrics", []):
                    if m["type"] == "Pods":
                        print("%s %s" % (d["spec"]["scaleTargetRef"]["name"],
                                         m["pods"]["metric"]["name"]))


# ------------------------------------------------------------- Dockerfile

def check_dockerfile(path, ignore):
    text = open(path).read()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    froms = [l.split() for l in lines if l.startswith("FROM ")]
    stages = {f[3]: f[1] for f in froms if len(f) >= 4 and f[2] == "AS"}
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.M))
    for st, img in stages.items():
        img = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), img)
        if img not in ("debian:12-slim", "build", "runtime") and \
                img not in stages:
            bad(path, "stage %s is FROM %s" % (st, img))
    if "build" not in stages or "runtime" not in stages:
        bad(path, "want stages build and runtime")
    cur, by_stage = None, {}
    for l in lines:
        if l.startswith("FROM "):
            cur = l.split()[3] if " AS " in l else None
        elif cur:
            by_stage.setdefault(cur, []).append(l)
    build = " ".join(by_stage.get("build", []))
    if "MODE=release" not in build:
        bad(path, "build stage does not run make MODE=release")
    for d in DAEMONS + ["callctl"]:
        if "bin/" + d not in build:
            bad(path, "build stage does not build %s" % d)
    rt = " ".join(by_stage.get("runtime", []))
    if re.search(r"\S+-dev\b", rt):
        bad(path, "runtime stage installs -dev packages")
    users = [l.split()[1] for l in by_stage.get("runtime", [])
             if l.startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("0", "root") or \
            not users[-1].split(":")[0].isdigit():
        bad(path, "runtime stage must end with a numeric non-root USER")
    for d in DAEMONS:
        st = by_stage.get(d)
        if st is None or stages.get(d) != "runtime":
            bad(path, "no target %s FROM runtime" % d)
            continue
        hc = [l for l in st if l.startswith("HEALTHCHECK")]
        if not hc or ":%d/health" % HTTP_PORT[d] not in hc[0]:
            bad(path, "target %s: no HEALTHCHECK on :%d/health"
                % (d, HTTP_PORT[d]))
        if not any(l.startswith("CMD") and '"%s"' % d in l for l in st):
            bad(path, "target %s does not run %s" % (d, d))
        if any(l.startswith("USER ") for l in st):
            bad(path, "target %s changes USER" % d)
    copies = re.findall(r"^COPY (?!--from)(\S+)", text, re.M)
    allowed = [l[1:].rstrip("/") for l in open(ignore).read().splitlines()
               if l.startswith("!")]
    for c in copies:
        if c.rstrip("/") not in allowed:
            bad(ignore, "%s is copied but excluded from the context" % c)


def stage_lines(path):
    text = open(path).read()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.M))
    cur, by_stage = None, {}
    for l in lines:
        if l.startswith("FROM "):
            cur = l.split()[3] if " AS " in l else None
        elif cur:
            by_stage.setdefault(cur, []).append(l)
    return by_stage, args


def dockerfile_build(path):
    """Print the build stage's `RUN make ...` as one sh command, with the
    ARG defaults substituted as docker would."""
    by_stage, args = stage_lines(path)
    runs = [l[4:] for l in by_stage.get("build", [])
            if l.startswith("RUN make ")]
    if len(runs) != 1:
        bad(path, "want exactly one RUN make in the build stage")
        return
    cmd = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""),
                 runs[0])
    print(cmd)


def runtime_libs(path, binaries):
    """Every shared library the binaries need comes from a package the
    runtime stage installs (or from libc6, which every Debian image has)."""
    import subprocess
    by_stage, _ = stage_lines(path)
    rt = " ".join(by_stage.get("runtime", []))
    m = re.search(r"apt-get install (.*?)(&&|$)", rt)
    pkgs = set(m.group(1).split()) if m else set()
    pkgs = {p for p in pkgs if not p.startswith("-")} | {"libc6",
                                                          "libgcc-s1"}
    needed = set()
    for b in binaries:
        out = subprocess.run(["readelf", "-d", b], capture_output=True,
                             text=True).stdout
        needed |= set(re.findall(r"\(NEEDED\).*\[(.+)\]", out))
        # Libraries loaded with dlopen() are named in the binary's strings
        # (media-edge: libev.so.4).
        with open(b, "rb") as f:
            needed |= {m.decode() for m in re.findall(
                rb"(?<![A-Za-z0-9_.+-])(lib[a-z0-9_+-]+\.so\.[0-9]+)\x00",
                f.read())}
    if not needed:
        bad(path, "no shared libraries found in %s" % binaries)
    for lib in sorted(needed):
        out = subprocess.run(["dpkg", "-S", "*/%s" % lib],
                             capture_output=True, text=True).stdout
        owners = {l.split(":")[0] for l in out.splitlines() if ":" in l}
        owners = {o.split(",")[0].strip() for o in owners}
        if not owners:
            # Not installed here: Debian names libfoo.so.N's package
            # libfooN (libfoo-N when foo ends in a digit).
            m = re.fullmatch(r"lib(.+)\.so\.([0-9]+)", lib)
            guess = {"lib%s%s" % (m.group(1), m.group(2)),
                     "lib%s-%s" % (m.group(1), m.group(2))} if m else set()
            if not guess & pkgs:
                bad(path, "%s: no package for it in the runtime stage" % lib)
        elif not owners & pkgs:
            bad(path, "%s comes from %s, which the runtime stage does "
                "not install" % (lib, " or ".join(sorted(owners))))


def main(argv):
    cvars = None
    if len(argv) > 2 and argv[1] == "--vars":
        cvars = load_vars(argv[2])
        argv = argv[:1] + argv[3:]
    if len(argv) < 2:
        print(__doc__)
        return 2
    what = argv[1]
    if what == "compose" and cvars is not None and len(argv) == 3:
        check_compose(argv[2], cvars)
    elif what == "k8s" and cvars is not None and len(argv) in (4, 5):
        check_k8s(argv[2], argv[3], cvars, "--pinned" in argv[4:])
    elif what == "dockerfile" and len(argv) == 4:
        check_dockerfile(argv[2], argv[3])
    elif what == "dockerfile-build" and len(argv) == 3:
        dockerfile_build(argv[2])
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    elif what == "runtime-libs" and len(argv) >= 4:
        runtime_libs(argv[2], argv[3:])
    elif what == "hpa-metrics" and len(argv) == 3:
        hpa_metrics(argv[2])
        return 0
    else:
        print(__doc__)
        return 2
    for p in problems:
        print(p)
    if problems:
        print("%d problem(s)" % len(problems))
        return 1
    print("ok %s" % " ".join(argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
