#!/usr/bin/env bash
# Checks the deployment files in deploy/ (ctest: deploy_files, label integration):
#   - deploy/prometheus/rules.yml passes `promtool check rules` and its unit tests (`promtool test rules`);
#   - deploy/grafana/joulepilot.json is valid JSON with panels, and every PromQL query in it parses
#     (promtool, on the queries with Grafana's variables filled in);
#   - every metric name used in rules.yml and the dashboard is one docs/metrics.md lists, so neither can
#     drift from what the agent exports;
#   - the YAML files parse (PyYAML) and the Kubernetes kustomization builds, with and without the act
#     component (kubectl kustomize);
#   - the systemd unit and its act drop-in pass `systemd-analyze verify`;
#   - the example agent configs are accepted by the real agent (a 1-second observe/act run on a copied
#     sysfs fixture tree, NVML disabled, nothing outside a temporary directory written).
# A tool that is missing (promtool, PyYAML, kubectl, systemd-analyze, the joulepilot binary) skips its
# check with a line saying so; everything else must pass.
#
# Usage: deploy_files_test.sh SOURCE_DIR [JOULEPILOT_BINARY]
set -euo pipefail

src=${1:?usage: deploy_files_test.sh SOURCE_DIR [JOULEPILOT_BINARY]}
bin=${2:-}
rules=$src/deploy/prometheus/rules.yml
rules_test=$src/deploy/prometheus/rules_test.yml
dashboard=$src/deploy/grafana/joulepilot.json
metrics_doc=$src/docs/metrics.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
skip() { echo "SKIP: $*"; }
ok() { echo "ok: $*"; }

for f in "$rules" "$rules_test" "$dashboard" "$metrics_doc"; do
    [[ -f $f ]] || { echo "FAIL: missing $f" >&2; exit 1; }
done

# --- Grafana dashboard: JSON, panels with queries; the queries as a rules file for promtool ---------------
if python3 - "$dashboard" "$work/dashboard_queries.yml" <<'EOF'; then ok "dashboard JSON parses"; else fail "dashboard JSON"; fi
import json, sys
with open(sys.argv[1]) as f:
    dash = json.load(f)
exprs = []
def walk(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                exprs.append(value)
            else:
                walk(value)
    elif isinstance(node, list):
        for value in node:
            walk(value)
walk(dash)
panels = [p for p in dash.get("panels", []) if p.get("type") != "row"]
if not panels or not exprs:
    sys.exit("no panels or no queries in the dashboard")
for p in panels:
    if not p.get("targets"):
        sys.exit(f"panel '{p.get('title')}' has no query")
# Grafana's variables filled in the way Grafana would, so promtool can parse the PromQL.
subst = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h", "$job": ".+", "$instance": ".+"}
rules = []
for i, e in enumerate(exprs):
    for k in sorted(subst, key=len, reverse=True):
        e = e.replace(k, subst[k])
    rules.append({"record": f"dashboard:query_{i}", "expr": e})
# JSON is YAML: promtool reads it.
with open(sys.argv[2], "w") as f:
    json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
print(f"{len(panels)} panels, {len(exprs)} queries")
EOF

# --- promtool -------------------------------------------------------------------------------------------
if command -v promtool >/dev/null 2>&1; then
    if promtool check rules "$rules"; then ok "promtool check rules"; else fail "promtool check rules $rules"; fi
    if (cd "$(dirname "$rules_test")" && promtool test rules "$(basename "$rules_test")"); then
        ok "promtool test rules"
    else
        fail "promtool test rules $rules_test"
    fi
    if [[ -f $work/dashboard_queries.yml ]]; then
        if promtool check rules "$work/dashboard_queries.yml" >/dev/null; then
            ok "every dashboard query parses"
        else
            promtool check rules "$work/dashboard_queries.yml" >&2 || true
            fail "a dashboard query does not parse (see above)"
        fi
    fi
else
    skip "promtool not installed: rules and dashboard queries not checked by promtool (apt-get install prometheus)"
fi

# --- metric names: every one used must be listed in docs/metrics.md -------------------------------------
if python3 - "$metrics_doc" "$rules" "$dashboard" <<'EOF'; then ok "every metric name used is in docs/metrics.md"; else fail "metric names"; fi
import re, sys
doc = open(sys.argv[1]).read()
documented = set(re.findall(r"`(joulepilot_[a-z0-9_]+)`", doc))
if len(documented) < 10:
    sys.exit(f"docs/metrics.md lists only {len(documented)} metric names in backticks; expected the catalogue")
# A metric name: joulepilot_..., not part of a recording-rule name (level:metric:operation, colons).
name = re.compile(r"(?<![\w:])joulepilot_[a-z0-9_]*[a-z0-9](?![\w:])")
bad = 0
for path in sys.argv[2:]:
    text = open(path).read()
    if "__name__" in text:
        print(f"{path}: selects metrics by __name__; use literal names so they can be checked", file=sys.stderr)
        bad += 1
    used = set(name.findall(text))
    if not used:
        print(f"{path}: no metric names found", file=sys.stderr)
        bad += 1
    for n in sorted(used - documented):
        print(f"{path}: {n} is not in docs/metrics.md (not exported by the agent, or undocumented)", file=sys.stderr)
        bad += 1
    if used and not used - documented:
        print(f"{path}: {len(used)} metric names, all documented")
sys.exit(1 if bad else 0)
EOF

# --- YAML files parse (exit 3: PyYAML missing) ---------------------------------------------------------
yaml_status=0
python3 - "$src/deploy" <<'EOF' || yaml_status=$?
import pathlib, sys
try:
    import yaml
except ImportError:
    sys.exit(3)
bad = 0
files = sorted(pathlib.Path(sys.argv[1]).rglob("*.yaml")) + sorted(pathlib.Path(sys.argv[1]).rglob("*.yml"))
for p in files:
    try:
        docs = [d for d in yaml.safe_load_all(p.read_text()) if d is not None]
        if not docs:
            raise ValueError("no document")
    except Exception as e:
        print(f"{p}: {e}", file=sys.stderr)
        bad += 1
print(f"{len(files)} YAML files")
sys.exit(1 if bad else 0)
EOF
case $yaml_status in
    0) ok "YAML files parse" ;;
    3) skip "PyYAML not installed: YAML files not parsed (apt-get install python3-yaml)" ;;
    *) fail "YAML" ;;
esac

# --- Kubernetes: the kustomization builds, observe-only and with the act component ------------------------
if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
    k8s=$work/kubernetes
    cp -r "$src/deploy/kubernetes" "$k8s"
    if kubectl kustomize "$k8s" >"$work/observe.yaml" 2>"$work/kustomize.err"; then
        # Observe-only: no capability added, non-root, read-only sysfs.
        if grep -q "SYS_ADMIN" "$work/observe.yaml"; then fail "observe-only manifests add SYS_ADMIN"; fi
        if ! grep -q "mode = \"observe\"" "$work/observe.yaml"; then fail "observe-only ConfigMap is not in observe mode"; fi
        ok "kustomize build (observe)"
    else
        cat "$work/kustomize.err" >&2
        fail "kubectl kustomize deploy/kubernetes"
    fi
    sed -i 's/^# components:/components:/; s/^#   - act/  - act/' "$k8s/kustomization.yaml"
    sed -i 's/^  # - path: sysfs-write.yaml/  - path: sysfs-write.yaml/' "$k8s/act/kustomization.yaml"
    if kubectl kustomize "$k8s" >"$work/act.yaml" 2>"$work/kustomize.err"; then
        for want in SYS_ADMIN "mode = \"act\"" joulepilot-api-token /host/sys/devices/virtual/powercap; do
            grep -q -- "$want" "$work/act.yaml" || fail "act component: '$want' missing from the built manifests"
        done
        ok "kustomize build (act component, sysfs writes)"
    else
        cat "$work/kustomize.err" >&2
        fail "kubectl kustomize with the act component"
    fi
else
    skip "kubectl not installed: kustomization not built"
fi

# --- systemd unit ---------------------------------------------------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
    unit_dir=$work/systemd
    mkdir -p "$unit_dir/joulepilot.service.d"
    # verify wants an executable at ExecStart; the binary's path on a target machine does not exist here.
    sed 's#/usr/local/bin/joulepilot#/bin/true#g' "$src/deploy/systemd/joulepilot.service" >"$unit_dir/joulepilot.service"
    cp "$src/deploy/systemd/act.conf" "$unit_dir/joulepilot.service.d/act.conf"
    out=$(cd "$unit_dir" && { systemd-analyze verify --man=no ./joulepilot.service 2>&1 || true; })
    # Only complaints about our files count (a container may add unrelated noise).
    if grep -E "joulepilot\.service|act\.conf" <<<"$out"; then
        fail "systemd-analyze verify reports problems in deploy/systemd (above)"
    else
        ok "systemd-analyze verify (unit + act drop-in)"
    fi
else
    skip "systemd-analyze not installed: unit not verified"
fi

# --- the example agent configs, on the real agent -------------------------------------------------------
fixture=$src/tests/fixtures/act/node-2s
if [[ -n $bin && -x $bin ]] && "$bin" agent --help >/dev/null 2>&1 && [[ -d $fixture ]]; then
    printf '%s\n' "0123456789abcdef0123456789abcdef" >"$work/token"
    chmod 600 "$work/token"
    for config in "$src/deploy/kubernetes/agent.toml" "$src/deploy/kubernetes/act/agent.toml"; do
        name=$(basename "$(dirname "$config")")
        run=$work/run-$name
        mkdir -p "$run"
        cp -r "$fixture" "$run/root"
        sed "s#^token_file = .*#token_file = \"$work/token\"#" "$config" >"$run/agent.toml"
        # NVML off (no real GPU is touched); sysfs from the copied fixture; ledger and state in $run.
        if JOULEPILOT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1 timeout 30 "$bin" agent --config "$run/agent.toml" \
            --root "$run/root" --listen 127.0.0.1:0 --ledger "$run/ledger.db" --state-file "$run/state.json" \
            --duration 1s >"$run/out" 2>&1; then
            ok "agent accepts $config"
        else
            cat "$run/out" >&2
            fail "joulepilot agent refused $config"
        fi
        [[ -f $run/ledger.db ]] || fail "$config: the agent wrote no ledger at --ledger"
    done
else
    skip "joulepilot binary with the agent command not given: example configs not run"
fi

if ((failures > 0)); then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "deploy files: all checks passed"
