#!/usr/bin/python3
"""The deployment files: deploy/kubernetes/*.yaml are valid YAML and a
DaemonSet that is consistent with itself and with nsinetd (its arguments,
ports, volumes, and every service file of its ConfigMap passes
nsinetd --check); the YAML blocks of docs/deploy.md parse. No cluster here:
what Kubernetes would do with it is not tested.
"""
import glob
import os
import re
import subprocess
import tempfile

from nsitest import NSINETD, SRC, SkipTest, main

try:
    import yaml
except ImportError:  # python3-yaml, scripts/install-deps.sh check
    yaml = None

MANIFEST = os.path.join(SRC, "deploy", "kubernetes", "nsinetd-daemonset.yaml")


def need_yaml():
    if yaml is None:
        raise SkipTest("python3 yaml module missing (Debian package python3-yaml)")


def manifests():
    need_yaml()
    out = {}
    for path in sorted(glob.glob(os.path.join(SRC, "deploy", "kubernetes", "*.yaml"))):
        with open(path) as f:
            out[path] = [d for d in yaml.safe_load_all(f) if d is not None]
    assert MANIFEST in out, f"{MANIFEST} is missing"
    return out


def objects(kind):
    return [d for d in manifests()[MANIFEST] if d["kind"] == kind]


def daemon_container():
    (ds,) = objects("DaemonSet")
    assert ds["apiVersion"] == "apps/v1", ds["apiVersion"]
    spec = ds["spec"]["template"]["spec"]
    (c,) = [c for c in spec["containers"] if c["name"] == "nsinetd"]
    return ds, spec, c


def option(args, name):
    assert args.count(name) == 1, f"{name} given {args.count(name)} times in {args}"
    return args[args.index(name) + 1]


def test_every_manifest_is_valid_yaml():
    for path, docs in manifests().items():
        assert docs, f"{path}: no document"
        for d in docs:
            assert isinstance(d, dict) and d.get("apiVersion") and d.get("kind") and \
                d.get("metadata", {}).get("name"), f"{path}: not a Kubernetes object: {d}"


def test_daemonset_arguments_ports_and_volumes():
    ds, spec, c = daemon_container()
    args = c["args"]
    assert "--watch" in args, args
    assert option(args, "--config-dir") == "/etc/nsinetd", args
    # Every $(VAR) is defined: Kubernetes leaves an undefined one as it is.
    env = {e["name"] for e in c.get("env", [])}
    for a in args:
        for var in re.findall(r"\$\((\w+)\)", a):
            assert var in env, f"{a}: {var} is not in env {env}"
    ports = {p["containerPort"] for p in c["ports"]}
    metrics_port = int(option(args, "--metrics").rsplit(":", 1)[1])
    agent_port = int(option(args, "--agent").rsplit(":", 1)[1])
    assert {metrics_port, agent_port} <= ports, (metrics_port, agent_port, ports)
    ann = ds["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/port"] == str(metrics_port), ann
    # The selector selects the template.
    labels = ds["spec"]["template"]["metadata"]["labels"]
    for k, v in ds["spec"]["selector"]["matchLabels"].items():
        assert labels.get(k) == v, (k, v, labels)
    # Mounts name volumes; the configuration directory is the services' ConfigMap.
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    for m in mounts.values():
        assert m["name"] in volumes, f"mount of an undefined volume {m}"
    config = volumes[mounts["/etc/nsinetd"]["name"]]
    maps = {m["metadata"]["name"] for m in objects("ConfigMap")}
    assert config["configMap"]["name"] in maps, (config, maps)
    assert option(args, "--runtime-dir") in mounts, "the runtime directory is not a volume"
    assert c["securityContext"]["privileged"] is True, c["securityContext"]
    assert spec["automountServiceAccountToken"] is False, "a container's root would hold a token"
    # Every object in the same namespace as the DaemonSet.
    ns = ds["metadata"]["namespace"]
    for d in manifests()[MANIFEST]:
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == ns, d["metadata"]


def test_configmap_services_pass_check():
    ds, spec, c = daemon_container()
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    name = volumes[mounts["/etc/nsinetd"]]["configMap"]["name"]
    (cm,) = [m for m in objects("ConfigMap") if m["metadata"]["name"] == name]
    files = {k: v for k, v in cm["data"].items()}
    assert files and all(k.endswith(".conf") for k in files), \
        f"every key of {name} must be a service file NAME.conf: {list(files)}"
    with tempfile.TemporaryDirectory() as d:
        for k, v in files.items():
            with open(os.path.join(d, k), "w") as f:
                f.write(v)
        p = subprocess.run([NSINETD, "--check", "--config-dir", d], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 0 and f"configuration OK ({len(files)} service" in p.stdout, \
            p.stdout + p.stderr
    # What the services bind from the pod is mounted there.
    for k, v in files.items():
        for src in re.findall(r"^Bind(?:ReadOnly)?=([^:\s]+)", v, re.M):
            assert any(src == m or src.startswith(m.rstrip("/") + "/") for m in mounts), \
                f"{k}: Bind source {src} is not a volume of the pod ({list(mounts)})"


def test_deploy_md_yaml_blocks_parse():
    need_yaml()
    path = os.path.join(SRC, "docs", "deploy.md")
    with open(path) as f:
        text = f.read()
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, re.M | re.S)
    assert blocks, "docs/deploy.md has no ```yaml block"
    for b in blocks:
        list(yaml.safe_load_all(b))
    assert "deploy/kubernetes/nsinetd-daemonset.yaml" in text


if __name__ == "__main__":
    main([test_every_manifest_is_valid_yaml, test_daemonset_arguments_ports_and_volumes,
          test_configmap_services_pass_check, test_deploy_md_yaml_blocks_parse])
