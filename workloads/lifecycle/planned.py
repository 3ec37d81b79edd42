"""The loop's containers as the planned manifests give them, adapted to this machine.

``mlplatform plan --stack S --out DIR`` writes every Kubernetes object of the stack
under ``DIR/manifests/<namespace>/<kind>-<name>.yaml``. :class:`PlannedTenant` reads one
tenant's objects; :meth:`PlannedTenant.launch` turns one container (of a Deployment,
CronJob, ServingRuntime or TrainJob) into the argv and environment a local process
runs, changing only what cannot be the same on one machine:

- **paths** the container mounts (ConfigMaps, Secrets, ``emptyDir``s) become folders
  under the work directory (a mounted ConfigMap's files are written there);
- **endpoints**: listen addresses become ``127.0.0.1``, every ``--*port`` argument a
  free loopback port (``extra`` arguments name ports the container takes by default),
  AWS calls go to the moto server (``AWS_ENDPOINT_URL``), the Kubernetes API to the
  loopback stand-in (``--kubeconfig``), the tenant Prometheus to the model servers'
  own ``/metrics`` (``--scrape``);
- **secrets** (masked in a plan) take the local values given.

Everything else, the module, every other argument and every literal environment
variable, is the manifest's. A workload that does not accept what its manifest passes
fails to start, and the stage fails with the manifest's name: that is how a mismatch
between the infrastructure and the workloads fails ``make demo`` and the tests.
"""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from workloads.lifecycle.runtime import StageError, free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
"""The repository (the images are built from it)."""
DOCKERFILES = {
    "onnx-serving": "workloads/serving/Dockerfile",
    "loop": "workloads/images/loop/Dockerfile",
    "training": "workloads/images/training/Dockerfile",
    "training-cuda": "workloads/images/training/Dockerfile.cuda",
}
"""The platform's images by repository name: a container without ``command`` runs its
image's ``ENTRYPOINT``."""

_PORT_ARG = re.compile(r"^--(?:[a-z_]*_)?port=\d+$")
_HOST_ARG = re.compile(r"^--(?:[a-z_]*_)?(?:host|bind_address)=0\.0\.0\.0$")


@dataclass
class Launch:
    """What a local process runs for one planned container."""

    source: str
    """Which manifest and container (for messages)."""
    module: str
    """The ``python -m`` / ``torchrun -m`` module."""
    launcher: str
    """``python`` or ``torchrun``."""
    args: list[str]
    env: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)
    """Argument name -> the free port it was given."""
    changed: list[str] = field(default_factory=list)
    """Every local substitution, for the log."""
    launcher_args: list[str] = field(default_factory=list)
    """``torchrun``'s own options (what Trainer's torch plugin sets for a node)."""

    def argv(self) -> list[str]:
        """Arguments after the Python executable."""
        if self.launcher == "torchrun":
            return ["-m", "torch.distributed.run", *self.launcher_args, "-m", self.module,
                    *self.args]  # fmt: skip
        return ["-m", self.module, *self.args]

    def arg(self, name: str) -> str | None:
        """The value of ``--name=...`` (None when absent)."""
        prefix = f"--{name}="
        return next((a[len(prefix) :] for a in self.args if a.startswith(prefix)), None)


class PlannedTenant:
    """One tenant's planned objects, read from a plan's ``manifests/`` folder."""

    def __init__(self, plan_dir: pathlib.Path, namespace: str) -> None:
        folder = plan_dir / "manifests" / namespace
        if not folder.is_dir():
            raise StageError(f"{folder}: no planned manifests for namespace {namespace}")
        self.plan_dir = plan_dir
        self.namespace = namespace
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        for path in sorted([*folder.glob("*.yaml"), *(plan_dir / "manifests" / "_cluster").glob(
            "*.yaml"
        )]):  # fmt: skip
            for doc in yaml.safe_load_all(path.read_text()):
                if isinstance(doc, dict) and "kind" in doc:
                    self.objects[(doc["kind"], doc["metadata"]["name"])] = doc

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """The planned object (StageError naming what is missing)."""
        try:
            return self.objects[(kind, name)]
        except KeyError:
            raise StageError(f"the plan has no {kind} {self.namespace}/{name}") from None

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        """Every planned object of ``kind``."""
        return [obj for (k, _), obj in sorted(self.objects.items()) if k == kind]

    def run_template(self, config_map: str) -> dict[str, Any]:
        """The training-run template (a TrainJob) the controller instantiates."""
        data = self.get("ConfigMap", config_map).get("data") or {}
        return dict(json.loads(next(iter(data.values()))))

    # --- containers -------------------------------------------------------------------

    def pod(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The pod spec of a Deployment, CronJob or ServingRuntime."""
        kind = obj["kind"]
        if kind == "Deployment":
            return dict(obj["spec"]["template"]["spec"])
        if kind == "CronJob":
            return dict(obj["spec"]["jobTemplate"]["spec"]["template"]["spec"])
        if kind == "ServingRuntime":
            return dict(obj["spec"])
        raise StageError(f"{kind} {obj['metadata']['name']}: not a workload kind")

    def launch(
        self,
        obj: dict[str, Any],
        container_name: str | None = None,
        *,
        workdir: pathlib.Path,
        env: Mapping[str, str],
        secrets: Mapping[tuple[str, str], str] = {},
        mounts: Mapping[str, pathlib.Path] = {},
        extra: Iterable[str] = (),
        replace: Callable[[str], list[str] | None] | None = None,
        keys: Mapping[str, str] = {},
    ) -> Launch:
        """The local launch of a container of ``obj`` (see the module docstring).

        ``keys`` replaces literal environment values that hold key material (the stack's
        public verify key, whose private half this machine does not have).

        ``mounts`` maps a volume name to a local folder to use for it (a feature repo,
        the signing key's folder); other volumes get a fresh folder under ``workdir``
        (with a ConfigMap's data written into it). ``replace`` may rewrite one argument
        (return its replacement, possibly empty) or keep it (return None).
        """
        pod = self.pod(obj)
        containers = pod.get("containers") or []
        container = next((c for c in containers if container_name in (None, c.get("name"))), None)
        source = f"{obj['kind']} {self.namespace}/{obj['metadata']['name']}"
        if container is None:
            raise StageError(f"{source}: no container {container_name!r}")
        return self._adapt(
            source, container, pod.get("volumes") or [], workdir=workdir, env=env,
            secrets=secrets, mounts=mounts, extra=extra, replace=replace, keys=keys,
        )  # fmt: skip

    def launch_train_job(
        self,
        job: dict[str, Any],
        *,
        workdir: pathlib.Path,
        env: Mapping[str, str],
        mounts: Mapping[str, pathlib.Path] = {},
    ) -> Launch:
        """A TrainJob's node as Kubeflow Trainer runs it: the runtime's container with the
        job's image, command, args and patches (env, volumes, mounts)."""
        runtime = self.get("ClusterTrainingRuntime", job["spec"]["runtimeRef"]["name"])
        (rjob,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
        pod = json.loads(json.dumps(rjob["template"]["spec"]["template"]["spec"]))
        (node,) = pod["containers"]
        trainer = job["spec"]["trainer"]
        node["command"] = list(trainer.get("command") or node["command"])
        node["args"] = list(trainer.get("args") or [])
        for patch in job["spec"].get("runtimePatches") or []:
            spec = patch["trainingRuntimeSpec"]["template"]["spec"]
            for patched in spec.get("replicatedJobs") or []:
                pod_patch = patched["template"]["spec"]["template"]["spec"]
                pod["volumes"] = [*pod.get("volumes", []), *pod_patch.get("volumes", [])]
                for c in pod_patch.get("containers") or []:
                    if c.get("name") == node["name"]:
                        names = {e["name"] for e in c.get("env") or []}
                        node["env"] = [
                            *(e for e in node.get("env") or [] if e["name"] not in names),
                            *(c.get("env") or []),
                        ]
                        node["volumeMounts"] = [
                            *node.get("volumeMounts", []), *c.get("volumeMounts", [])
                        ]  # fmt: skip
        launch = self._adapt(
            f"TrainJob {self.namespace}/{job['metadata']['name']}", node, pod["volumes"],
            workdir=workdir, env=env, secrets={}, mounts=mounts, extra=(), replace=None, keys={},
        )  # fmt: skip
        procs = int(trainer.get("numProcPerNode") or 1)
        if launch.launcher == "torchrun":
            # What Trainer's torch plugin sets for one node (PET_* are torchrun's defaults).
            launch.launcher_args = ["--standalone", "--nnodes=1", f"--nproc_per_node={procs}"]
        return launch

    def _adapt(
        self,
        source: str,
        container: dict[str, Any],
        volumes: list[dict[str, Any]],
        *,
        workdir: pathlib.Path,
        env: Mapping[str, str],
        secrets: Mapping[tuple[str, str], str],
        mounts: Mapping[str, pathlib.Path],
        extra: Iterable[str],
        replace: Callable[[str], list[str] | None] | None,
        keys: Mapping[str, str],
    ) -> Launch:
        command = list(container.get("command") or entrypoint(str(container.get("image", ""))))
        if command[:2] == ["python", "-m"] and len(command) == 3:
            launcher, module = "python", command[2]
        elif command[:1] == ["torchrun"] and "-m" in command:
            launcher, module = "torchrun", command[command.index("-m") + 1]
        else:
            raise StageError(f"{source}: command {command} is not 'python -m M' or 'torchrun -m M'")
        changed: list[str] = []
        paths = self._paths(source, container, volumes, workdir, mounts, changed, secrets)
        out_env: dict[str, str] = dict(env)
        for item in container.get("env") or []:
            name = item["name"]
            if "value" in item and name in keys:
                out_env[name] = keys[name]
                changed.append(f"env {name}: local key")
            elif "value" in item:
                out_env[name] = _swap_paths(str(item["value"]), paths)
            else:
                ref = (item.get("valueFrom") or {}).get("secretKeyRef") or {}
                key = (str(ref.get("name")), str(ref.get("key")))
                if key not in secrets:
                    raise StageError(f"{source}: env {name} comes from Secret {key[0]}/{key[1]}, "
                                     "which has no local value")  # fmt: skip
                out_env[name] = secrets[key]
                changed.append(f"env {name}: local secret value")
        launch = Launch(source, module, launcher, [], out_env, changed=changed)
        for arg in container.get("args") or []:
            rewritten = replace(arg) if replace is not None else None
            if rewritten is not None:
                launch.args += rewritten
                changed.append(f"{arg} -> {' '.join(rewritten) or '(dropped)'}")
            elif _PORT_ARG.match(arg):
                name = arg.split("=", 1)[0]
                port = launch.ports[name.removeprefix("--")] = free_port()
                launch.args.append(f"{name}={port}")
                changed.append(f"{arg} -> {name}={port}")
            elif _HOST_ARG.match(arg):
                launch.args.append(arg.replace("0.0.0.0", "127.0.0.1"))
                changed.append(f"{arg} -> 127.0.0.1")
            else:
                swapped = _swap_paths(arg, paths)
                if swapped != arg:
                    changed.append(f"{arg} -> {swapped}")
                launch.args.append(swapped)
        launch.args += list(extra)  # local already (a kubeconfig, a timing)
        changed += [f"+ {arg}" for arg in extra]
        return launch

    def _paths(
        self,
        source: str,
        container: dict[str, Any],
        volumes: list[dict[str, Any]],
        workdir: pathlib.Path,
        mounts: Mapping[str, pathlib.Path],
        changed: list[str],
        secrets: Mapping[tuple[str, str], str] = {},
    ) -> dict[str, pathlib.Path]:
        """Mount path -> local folder, materialising mounted ConfigMaps and Secrets (a
        Secret's keys from the local values in ``secrets``)."""
        by_name = {v["name"]: v for v in volumes}
        paths: dict[str, pathlib.Path] = {}
        for mount in container.get("volumeMounts") or []:
            name, target = mount["name"], mount["mountPath"]
            local = mounts.get(name)
            if local is None:
                local = workdir / "volumes" / source.split("/")[-1] / name
                local.mkdir(parents=True, exist_ok=True)
                volume = by_name.get(name) or {}
                if "configMap" in volume:
                    data = self.get("ConfigMap", volume["configMap"]["name"]).get("data") or {}
                    items = volume["configMap"].get("items")
                    for key, value in data.items():
                        path = next((i["path"] for i in items or [] if i["key"] == key), key)
                        if items is None or any(i["key"] == key for i in items):
                            (local / path).write_text(str(value))
                if "secret" in volume:
                    secret = volume["secret"]
                    for item in secret.get("items") or []:
                        value = secrets.get((str(secret["secretName"]), str(item["key"])))
                        if value is None:
                            raise StageError(
                                f"{source}: volume {name} mounts Secret "
                                f"{secret['secretName']}/{item['key']}, which has no local value"
                            )
                        file = local / str(item.get("path") or item["key"])
                        file.write_text(value)
                        file.chmod(0o400)
            paths[target] = local
            changed.append(f"volume {name} at {target} -> {local}")
        return paths


def entrypoint(image: str) -> list[str]:
    """The ``ENTRYPOINT`` (exec form) of one of the platform's images, from its Dockerfile."""
    repository = image.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    dockerfile = DOCKERFILES.get(repository)
    if dockerfile is None:
        return []
    for line in (ROOT / dockerfile).read_text().splitlines():
        if line.startswith("ENTRYPOINT "):
            return [str(part) for part in json.loads(line.removeprefix("ENTRYPOINT "))]
    return []


def _swap_paths(text: str, paths: Mapping[str, pathlib.Path]) -> str:
    """Replace a mounted path (the longest that matches) at the start of ``text`` or of
    its ``--flag=`` value."""
    head, sep, value = text.partition("=") if text.startswith("--") else ("", "", text)
    for target in sorted(paths, key=len, reverse=True):
        if value == target or value.startswith(target.rstrip("/") + "/"):
            return f"{head}{sep}{paths[target]}{value[len(target.rstrip('/')) :]}"
    return text
