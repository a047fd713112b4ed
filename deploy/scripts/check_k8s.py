"""Checks the rendered example overlay (`kubectl kustomize deploy/k8s/overlays/example`) for
what the schemas cannot see: the overlay's patches took effect, the worker's grace period is
longer than its lease, probes hit /healthz and /readyz on ports the containers declare,
Redis is reached through Sentinel with its password from a mounted Secret file,
every Secret reference names a documented key of the Secret `onboard`, the disruption
budgets and the network policy select the pods. Usage: check_k8s.py RENDERED.yaml
Exits 1 naming every failed check."""
import sys
import tomllib

import yaml

SECRET_KEYS = {"sealing-key", "api-token", "redis-password"}


def main(path):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    by = {(d["kind"], d["metadata"]["name"].rsplit("-", 1)[0] if d["kind"] == "ConfigMap" else d["metadata"]["name"]): d for d in docs}
    problems = []

    def check(ok, what):
        if not ok:
            problems.append(what)

    for d in docs:
        if d["kind"] != "Namespace":
            check(d["metadata"].get("namespace") == "onboard", f"{d['kind']}/{d['metadata']['name']} is not in namespace onboard")
    config = by[("ConfigMap", "onboard-config")]["data"]
    toml = tomllib.loads(config["onboard.toml"])
    check(config.get("REDIS_SENTINELS", "").startswith("redis-node-0."), "the overlay's REDIS_SENTINELS was not merged into the ConfigMap")
    check(all(s.rsplit(":", 1)[-1].isdigit() for s in config.get("REDIS_SENTINELS", "").split(",")), "REDIS_SENTINELS is not a list of host:port")
    check(bool(config.get("REDIS_SENTINEL_MASTER")), "the ConfigMap names no Sentinel master")
    lease = toml["worker"]["lease_secs"]
    worker = by[("Deployment", "onboard-worker")]
    api = by[("Deployment", "onboard-api")]
    check(worker["spec"]["replicas"] == 4, "the overlay's worker replicas (4) did not apply")
    grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    check(grace > lease, f"worker terminationGracePeriodSeconds {grace} is not longer than the lease {lease}")
    for dep, container_name in ((worker, "worker"), (api, "api")):
        name = dep["metadata"]["name"]
        pod = dep["spec"]["template"]
        spec = pod["spec"]
        (c,) = [c for c in spec["containers"] if c["name"] == container_name]
        check(c["image"] == "registry.example.com/onboard:0.1.0", f"{name}: image {c['image']} is not the overlay's pinned image")
        ports = {p["name"] for p in c["ports"]}
        for probe, path_ in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = c.get(probe, {}).get("httpGet", {})
            check(get.get("path") == path_, f"{name}: {probe} is not on {path_}")
            check(get.get("port") in ports, f"{name}: {probe} port {get.get('port')} is not a declared port {ports}")
        env = {e["name"]: e for e in c["env"]}
        check(env.get("ONBOARD_TRACE_URL", {}).get("value", "").endswith("{trace_id}"), f"{name}: the overlay's ONBOARD_TRACE_URL did not apply")
        for var, key in (("ONBOARD_REDIS_SENTINELS", "REDIS_SENTINELS"), ("ONBOARD_REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_MASTER")):
            ref = env.get(var, {}).get("valueFrom", {}).get("configMapKeyRef", {})
            check(ref.get("key") == key and key in config, f"{name}: {var} does not come from the ConfigMap's {key}")
        check(not any("password" in e["name"].lower() and "value" not in e and "FILE" not in e["name"] for e in c["env"]), f"{name}: a Redis password is in the environment; use ONBOARD_REDIS_PASSWORD_FILE")
        pw = env.get("ONBOARD_REDIS_PASSWORD_FILE", {}).get("value", "")
        mounted = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
        secret_files = {
            f"{mounted[v['name']]}/{i['path']}": i["key"]
            for v in spec.get("volumes", []) if "secret" in v and v["name"] in mounted
            for i in v["secret"].get("items", [])
        }
        check(secret_files.get(pw) == "redis-password", f"{name}: ONBOARD_REDIS_PASSWORD_FILE {pw!r} is not the mounted redis-password of Secret onboard")
        check("ONBOARD_REDIS_URL" not in env or "@" not in env["ONBOARD_REDIS_URL"].get("value", ""), f"{name}: credentials in the Redis URL")
        for e in c["env"]:
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                check(ref["name"] == "onboard" and ref["key"] in SECRET_KEYS, f"{name}: secret reference {ref} is not a documented key of Secret onboard")
        for v in spec.get("volumes", []):
            if "secret" in v:
                keys = {i["key"] for i in v["secret"].get("items", [])}
                check(v["secret"]["secretName"] == "onboard" and keys <= SECRET_KEYS, f"{name}: secret volume {v} names an undocumented key")
        check(spec["securityContext"].get("runAsNonRoot") is True, f"{name}: not runAsNonRoot")
        check(c["securityContext"].get("readOnlyRootFilesystem") is True, f"{name}: root filesystem writable")
        labels = pod["metadata"]["labels"]
        pdb = by[("PodDisruptionBudget", name)]
        check(pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(), f"PodDisruptionBudget {name} does not select its pods")
        netpol = by[("NetworkPolicy", "onboard")]
        check(netpol["spec"]["podSelector"]["matchLabels"].items() <= labels.items(), f"NetworkPolicy onboard does not select {name}'s pods")
        check(dep["spec"]["selector"]["matchLabels"].items() <= labels.items(), f"{name}: selector does not match its pods")
    if problems:
        for p in problems:
            print(f"k8s overlay: {p}", file=sys.stderr)
        return 1
    print(f"k8s overlay: {len(docs)} resources, patches applied, probes, grace period, secrets and selectors consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
