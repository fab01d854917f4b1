#!/usr/bin/env bash
# Checks docker-compose.yml without a Docker engine: Debian's docker-compose (1.29, apt package
# `docker-compose`) validates it against the compose schema (unknown keys, depends_on conditions,
# healthcheck fields) and resolves anchors, merges and ${...}; then the rules of this project are
# checked on what it resolved (python3-yaml comes with that package):
#   - every image pulled is pinned to an exact version (x.y or more, or a digest): no :latest, no bare tag
#   - every service has a health check, or is a one-shot (restart "no") that others wait on
#   - depends_on waits for service_healthy or service_completed_successfully, never just "started"
#   - every named volume belongs to one service (a volume per data store), and each is used
#   - the API and the worker agree on the settings they share, and the hosts they reach are services
#   - an nginx mounted as a front door (its nginx.conf) answers /metrics itself (return 403/404 or
#     deny all), so the API's metrics are not published on the proxy's port
# Usage: scripts/check-compose.sh [file]   (default: docker-compose.yml next to this folder)
set -euo pipefail
cd "$(dirname "$0")/.."
file="${1:-docker-compose.yml}"

command -v docker-compose >/dev/null 2>&1 || { echo "check-compose: docker-compose is not installed (apt-get install docker-compose)" >&2; exit 2; }

# The file refuses to resolve without SECRET_KEY (it is required in served mode); any value does here.
export SECRET_KEY=check-compose-dummy-secret-of-32-characters

if grep -Eq '^version:' "$file"; then
  echo "check-compose: $file has a top-level 'version:' key (obsolete in the compose spec)" >&2
  exit 1
fi
# One run of `config` (it exits non-zero, saying why, on a file the schema refuses); the rules read what it resolved.
resolved="$(docker-compose -f "$file" config)"
printf '%s\n' "$resolved" | python3 -c '
import sys, re, yaml
from urllib.parse import urlparse

cfg = yaml.safe_load(sys.stdin)
services = cfg.get("services", {})
volumes = set((cfg.get("volumes") or {}).keys())
errors = []

for name, svc in services.items():
    image = svc.get("image")
    if "build" not in svc:
        if not image:
            errors.append(f"{name}: no image")
        elif "@sha256:" not in image:
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            if not tag:
                errors.append(f"{name}: image {image} has no tag")
            elif tag == "latest" or not re.match(r"^v?\d+\.\d+", tag):
                errors.append(f"{name}: image {image} is not pinned to an exact version")
    hc = svc.get("healthcheck")
    one_shot = str(svc.get("restart", "")) == "no"
    if (not hc or hc.get("disable")) and not one_shot:
        errors.append(f"{name}: no health check")
    for dep, how in (svc.get("depends_on") or {}).items():
        cond = how.get("condition") if isinstance(how, dict) else None
        if dep not in services:
            errors.append(f"{name}: depends on unknown service {dep}")
        elif cond not in ("service_healthy", "service_completed_successfully"):
            errors.append(f"{name}: depends_on {dep} without service_healthy or service_completed_successfully")
        elif cond == "service_healthy" and not services[dep].get("healthcheck"):
            errors.append(f"{name}: waits for {dep} to be healthy, but {dep} has no health check")

owners = {}
for name, svc in services.items():
    for v in svc.get("volumes") or []:
        src = v.get("source") if isinstance(v, dict) else str(v).split(":")[0]
        if src in volumes:
            owners.setdefault(src, []).append(name)
for vol in volumes:
    users = owners.get(vol, [])
    if len(users) != 1:
        who = ", ".join(users) if users else "no service"
        errors.append(f"volume {vol} is used by {who} (one data store each)")

# The proxy publishes a port: the metrics of the API must stay inside the compose network.
metrics_blocked = re.compile(r"location\s*=\s*/metrics\s*\{[^}]*\b(return\s+40[34]|deny\s+all)\b")
for name, svc in services.items():
    for v in svc.get("volumes") or []:
        src, target = (v.get("source"), v.get("target")) if isinstance(v, dict) else (str(v).split(":") + [""])[:2]
        if target != "/etc/nginx/nginx.conf":
            continue
        try:
            conf = open(src).read()
        except OSError as e:
            errors.append(f"{name}: cannot read its nginx.conf {src}: {e.strerror}")
            continue
        if not metrics_blocked.search(re.sub(r"#[^\n]*", "", conf)):
            errors.append(f"{name}: {src} passes /metrics through (add: location = /metrics {{ return 404; }})")

api, worker = services.get("api"), services.get("worker")
if not api or not worker:
    errors.append("api and worker services are both expected")
else:
    ae, we = api.get("environment") or {}, worker.get("environment") or {}
    shared = ["DATABASE_URL", "SECRET_KEY", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_BUCKET", "S3_REGION"]
    for key in shared:
        if ae.get(key) != we.get(key):
            errors.append(f"api and worker disagree on {key}")
    if not ae.get("SECRET_KEY"):
        errors.append("api has no SECRET_KEY")
    for key in ("DATABASE_URL", "S3_ENDPOINT"):
        if ae.get(key):
            host = urlparse(ae[key]).hostname
            if host not in services:
                errors.append(f"{key} names host {host}, which is no service in this file")
    # The S3 server is given the same keys the app signs with.
    s3host = urlparse(ae.get("S3_ENDPOINT", "")).hostname
    if s3host in services:
        se = services[s3host].get("environment") or {}
        given = {se.get(k) for k in ("AWS_ACCESS_KEY_ID", "MINIO_ROOT_USER", "RUSTFS_ACCESS_KEY") if se.get(k)}
        if given and ae.get("S3_ACCESS_KEY") not in given:
            errors.append(f"{s3host} is not given the access key the app uses")

if errors:
    print("check-compose: " + "\ncheck-compose: ".join(errors), file=sys.stderr)
    sys.exit(1)
print(f"check-compose: {len(services)} services, {len(volumes)} volumes: ok")
'
