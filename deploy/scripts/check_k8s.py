"""Checks the rendered example overlay (`kubectl kustomize deploy/k8s/overlays/example`) for
what the schemas cannot see: the overlay's patches took effect, the worker's grace period is
longer than its lease, probes hit /healthz and /readyz on ports the containers declare,
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
    check(config.get("REDIS_HOST", "").startswith("redis-master."), "the overlay's REDIS_HOST was not merged into the ConfigMap")
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
        check("$(REDIS_PASSWORD)" in env["ONBOARD_REDIS_URL"]["value"], f"{name}: the Redis URL does not use the password from the Secret")
        names = list(env)
        check(names.index("REDIS_PASSWORD") < names.index("ONBOARD_REDIS_URL"), f"{name}: REDIS_PASSWORD must come before ONBOARD_REDIS_URL to be substituted")
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
