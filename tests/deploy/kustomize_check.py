"""Renders a kustomization without a cluster or kustomize, and checks what
the manifests promise: used by tests/deploy/kubernetes.sh.

    python kustomize_check.py render DIR OUT.yaml   # the rendered set
    python kustomize_check.py check RENDERED.yaml   # the promises below

`render` supports exactly what deploy/kubernetes uses (resources, labels,
namespace, images, configMapGenerator with files, JSON 6902 patches with
replace/add/remove) and refuses any other kustomization key by name, so a
new feature is never silently ignored. It names the generated ConfigMap
without kustomize's hash suffix; `kubectl kustomize`, where installed, is
run as well by the script.

`check` fails naming the resource and the reason unless: every container
runs as uid 10001, non-root, read-only root, no privilege escalation, all
capabilities dropped, seccomp RuntimeDefault, with requests and limits;
the Deployment has 2 replicas, /healthz liveness and /readyz readiness;
secrets come by secretKeyRef only (no literal value for a secret variable,
no Secret object in the set); every ConfigMap a pod mounts is in the set;
the Service, PodDisruptionBudget and NetworkPolicy select the server pods.
"""

import json
import sys
from pathlib import Path

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "labels", "namespace", "images",
             "configMapGenerator", "patches"}
SECRET_VARIABLES = {"OCSET__DATABASE__URL", "OCSET__MAIL__SMTP__PASSWORD"}


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def pointer_parts(path):
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def apply_patch(doc, ops, where):
    for op in ops:
        parts = pointer_parts(op["path"])
        parent = doc
        for part in parts[:-1]:
            try:
                parent = parent[int(part)] if isinstance(parent, list) else parent[part]
            except (KeyError, IndexError, ValueError):
                fail(f"{where}: patch path {op['path']} does not exist")
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(index, op["value"])
            elif index >= len(parent):
                fail(f"{where}: patch path {op['path']} does not exist")
            elif kind == "replace":
                parent[index] = op["value"]
            elif kind == "remove":
                del parent[index]
            else:
                fail(f"{where}: patch op {kind} is not supported here")
        else:
            if kind in ("replace", "remove") and last not in parent:
                fail(f"{where}: patch path {op['path']} does not exist")
            if kind in ("add", "replace"):
                parent[last] = op["value"]
            elif kind == "remove":
                del parent[last]
            else:
                fail(f"{where}: patch op {kind} is not supported here")


def pod_specs(doc):
    """The pod templates of a workload, with where they are."""
    kind = doc.get("kind")
    if kind in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        yield doc["spec"]["template"]
    elif kind == "CronJob":
        yield doc["spec"]["jobTemplate"]["spec"]["template"]


def render(directory):
    directory = Path(directory)
    file = directory / "kustomization.yaml"
    if not file.is_file():
        fail(f"{directory}: no kustomization.yaml")
    k = yaml.safe_load(file.read_text(encoding="utf-8"))
    unknown = set(k) - SUPPORTED
    if unknown:
        fail(f"{file}: keys {sorted(unknown)} are not supported by this renderer")
    docs = []
    for entry in k.get("resources", []):
        path = directory / entry
        if path.is_dir():
            docs.extend(render(path))
        elif path.is_file():
            docs.extend(load_all(path))
        else:
            fail(f"{file}: resource {entry} does not exist")
    for generator in k.get("configMapGenerator", []):
        data = {}
        for name in generator.get("files", []):
            path = directory / name
            if not path.is_file():
                fail(f"{file}: configMapGenerator {generator['name']}: file {name} does not exist")
            data[path.name] = path.read_text(encoding="utf-8")
        docs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": generator["name"]}, "data": data})
    for label in k.get("labels", []):
        for doc in docs:
            doc.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
            if label.get("includeSelectors"):
                fail(f"{file}: labels with includeSelectors are not supported here")
            if label.get("includeTemplates"):
                for template in pod_specs(doc):
                    template.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
    if "namespace" in k:
        for doc in docs:
            doc["metadata"]["namespace"] = k["namespace"]
    for image in k.get("images", []):
        for doc in docs:
            for template in pod_specs(doc):
                for container in (template["spec"].get("initContainers", [])
                                  + template["spec"].get("containers", [])):
                    name, _, tag = container["image"].partition(":")
                    if name == image["name"]:
                        container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    for patch in k.get("patches", []):
        target = patch.get("target", {})
        ops = yaml.safe_load(patch["patch"]) if "patch" in patch else None
        if not isinstance(ops, list):
            fail(f"{file}: only inline JSON 6902 patches are supported here")
        matched = [d for d in docs
                   if d.get("kind") == target.get("kind")
                   and d["metadata"].get("name") == target.get("name")]
        if not matched:
            fail(f"{file}: patch target {target} matches no resource")
        for doc in matched:
            apply_patch(doc, ops, f"{file} patch on {target}")
    return docs


def name_of(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def check(docs):
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc.get("kind"), []).append(doc)
    if "Secret" in by_kind:
        fail(f"{name_of(by_kind['Secret'][0])}: secrets are the operator's, never in the manifests")
    config_maps = {d["metadata"]["name"] for d in by_kind.get("ConfigMap", [])}
    deployments = by_kind.get("Deployment", [])
    if len(deployments) != 1:
        fail(f"expected one Deployment, found {len(deployments)}")
    if not by_kind.get("Job"):
        fail("no migration Job")
    for doc in docs:
        for template in pod_specs(doc):
            spec = template["spec"]
            where = name_of(doc)
            pod = spec.get("securityContext", {})
            if spec.get("automountServiceAccountToken") is not False:
                fail(f"{where}: automountServiceAccountToken must be false")
            for volume in spec.get("volumes", []):
                if "configMap" in volume and volume["configMap"]["name"] not in config_maps:
                    fail(f"{where}: volume {volume['name']} mounts ConfigMap "
                         f"{volume['configMap']['name']}, not in the set")
            for container in spec.get("initContainers", []) + spec["containers"]:
                at = f"{where} container {container['name']}"
                sc = {**pod, **container.get("securityContext", {})}
                expected = {"runAsNonRoot": True, "runAsUser": 10001,
                            "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
                for key, value in expected.items():
                    if sc.get(key) != value:
                        fail(f"{at}: securityContext.{key} must be {json.dumps(value)}, is {json.dumps(sc.get(key))}")
                if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                    fail(f"{at}: securityContext.capabilities.drop must be [ALL]")
                if sc.get("capabilities", {}).get("add"):
                    fail(f"{at}: securityContext.capabilities.add must be empty")
                if sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                    fail(f"{at}: seccompProfile.type must be RuntimeDefault")
                resources = container.get("resources", {})
                for part in ("requests", "limits"):
                    for what in ("cpu", "memory"):
                        if what not in resources.get(part, {}):
                            fail(f"{at}: resources.{part}.{what} is missing")
                for env in container.get("env", []):
                    if env["name"] in SECRET_VARIABLES:
                        if "value" in env or "secretKeyRef" not in env.get("valueFrom", {}):
                            fail(f"{at}: {env['name']} must come from a secretKeyRef")
                names = {e["name"] for e in container.get("env", [])}
                if names & SECRET_VARIABLES != SECRET_VARIABLES:
                    fail(f"{at}: needs {sorted(SECRET_VARIABLES - names)} from the Secret")
    deployment = deployments[0]
    where = name_of(deployment)
    if deployment["spec"].get("replicas") != 2:
        fail(f"{where}: replicas must be 2")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    if not selects(deployment["spec"]["selector"], pod_labels):
        fail(f"{where}: its selector does not select its own pods")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        if container.get(probe, {}).get("httpGet", {}).get("path") != path:
            fail(f"{where}: {probe} must GET {path}")
    if container.get("args", [])[-1:] != ["serve"]:
        fail(f"{where}: the container must run serve")
    for job in by_kind["Job"]:
        args = job["spec"]["template"]["spec"]["containers"][0].get("args", [])
        if args[-1:] != ["migrate"]:
            fail(f"{name_of(job)}: the Job must run migrate")
        gates = [c.get("args", []) for c in job["spec"]["template"]["spec"].get("initContainers", [])]
        if not any(g[-2:] == ["check-config", "--production"] for g in gates):
            fail(f"{name_of(job)}: the Job must run check-config --production before migrating")
    for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy"):
        found = by_kind.get(kind, [])
        if not found:
            fail(f"no {kind}")
        for doc in found:
            spec = doc["spec"]
            selector = spec.get("podSelector") or spec.get("selector")
            if kind == "Service":
                selector = {"matchLabels": selector}
            if not selects(selector, pod_labels):
                fail(f"{name_of(doc)}: does not select the Deployment's pods")
    if by_kind["PodDisruptionBudget"][0]["spec"].get("minAvailable") != 1:
        fail("PodDisruptionBudget: minAvailable must be 1")
    policy = by_kind["NetworkPolicy"][0]["spec"]
    if sorted(policy.get("policyTypes", [])) != ["Egress", "Ingress"]:
        fail("NetworkPolicy: must restrict both Ingress and Egress")
    ingress_ports = {p["port"] for rule in policy["ingress"] for p in rule.get("ports", [])}
    if ingress_ports != {8080} or any("ports" not in r for r in policy["ingress"]):
        fail(f"NetworkPolicy: ingress must be 8080 only, is {sorted(ingress_ports)}")
    egress_ports = {p["port"] for rule in policy["egress"] for p in rule.get("ports", [])}
    if egress_ports != {53, 5432, 587} or any("ports" not in r for r in policy["egress"]):
        fail(f"NetworkPolicy: egress must be DNS, 5432 and 587 only, is {sorted(egress_ports)}")
    print(f"checked {len(docs)} resources: " + ", ".join(sorted(name_of(d) for d in docs)))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "render":
        docs = render(sys.argv[2])
        with open(sys.argv[3], "w", encoding="utf-8") as f:
            yaml.safe_dump_all(docs, f, sort_keys=False)
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        check(load_all(sys.argv[2]))
    else:
        fail(f"usage: {sys.argv[0]} render DIR OUT.yaml | check RENDERED.yaml")


if __name__ == "__main__":
    main()
