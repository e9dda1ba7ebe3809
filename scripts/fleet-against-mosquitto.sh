#!/usr/bin/env bash
# A fleet of simulated thermometers against a private Mosquitto, in real
# time: 10,000 devices by default, each running the thermometer firmware and
# holding its own MQTT connection to Mosquitto. The scenario it writes needs
# fleets in the scenario language (a device entry with `count:`).
#
#   scripts/fleet-against-mosquitto.sh                 # 10,000 devices, a 5-minute soak
#   DEVICES=500 SOAK=2m scripts/fleet-against-mosquitto.sh
#
# Settings (environment variables):
#   DEVICES    how many thermometers, 1 to 10000 (one fleet's most); default 10000
#   INTERVAL   how often each one reports; default 10s
#   SOAK       how long the fleet runs between the checks; default 5m
#   PORT       Mosquitto's loopback port; default a free one
#   HILT       the hilt binary; default: built here with `cargo build --release`
#
# Mosquitto comes from the distribution (Debian: `apt-get install mosquitto`).
# Both processes hold one socket per device, so each needs `ulimit -n` above
# DEVICES; the script raises the soft limit as far as the hard limit allows
# and stops if that is not enough.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

devices=${DEVICES:-10000}
interval=${INTERVAL:-10s}
soak=${SOAK:-5m}

if ! [[ $devices =~ ^[0-9]+$ ]] || ((devices < 1 || devices > 10000)); then
  echo "DEVICES must be a whole number from 1 to 10000, not '$devices'" >&2
  exit 2
fi
if ! command -v mosquitto >/dev/null 2>&1; then
  echo "mosquitto is not installed (Debian: apt-get install mosquitto)" >&2
  exit 2
fi

# A socket per device, plus room for the harness's own client, logs and the
# reconnections of devices whose first attempt the broker did not take.
files_needed=$((devices + 256))
hard_limit=$(ulimit -Hn)
if [[ $hard_limit != unlimited ]] && ((hard_limit < files_needed)); then
  echo "ulimit -n: the hard limit is $hard_limit open files, and $devices devices need about $files_needed" >&2
  echo "in each of hilt and Mosquitto; raise the hard limit (as root: ulimit -Hn $files_needed)" >&2
  echo "or run fewer devices (DEVICES=$((hard_limit - 256)))" >&2
  exit 2
fi
if [[ $(ulimit -Sn) != unlimited ]] && (($(ulimit -Sn) < files_needed)); then
  ulimit -Sn "$files_needed"
fi
echo "ulimit -n: $(ulimit -Sn) (hard limit $hard_limit)"

if [[ -n ${HILT:-} ]]; then
  hilt=$HILT
else
  cargo build --release --locked -p hilt
  hilt="${CARGO_TARGET_DIR:-target}/release/hilt"
fi

work=$(mktemp -d)
port=${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}

# max_connections -1 is Mosquitto's default (no limit), written out so that
# nobody has to look it up; the real limit is the open-file limit above.
cat >"$work/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
max_connections -1
persistence false
log_type error
log_type warning
EOF

# The thermometers report at boot and then every INTERVAL; hilt checks that
# every one of them reported, warms the whole fleet and checks that every one
# reports the new reading, lets them run for SOAK, and checks once more that
# every one is still reporting.
cat >"$work/fleet.yaml" <<EOF
name: $devices thermometers against Mosquitto, in real time
about: >
  Written by scripts/fleet-against-mosquitto.sh. A fleet of $devices
  thermometers, each with its own connection to Mosquitto, reporting every
  $interval, for a soak of $soak.
time: real
seed: 1
devices:
  probe:
    app: thermometer
    count: $devices
    client_id: "probe-{index}"
    config: { unit: C, interval: $interval }
    parts:
      ds18b20: { temperature: { between: [18, 24] } }
steps:
  - name: every thermometer connects and reports
    expect: { topic: devices/+/temperature/degrees, from: probe, each: true, within: 2m }
  - name: the whole fleet warms up
    set: { probe.ds18b20.temperature: 25 }
  - name: every thermometer reports the new reading at its next one
    expect:
      topic: devices/+/temperature/degrees
      from: probe
      each: true
      json: { degrees: 25 }
      within: 1m
  - name: the fleet runs
    wait: $soak
  - name: every thermometer is still reporting
    expect: { topic: devices/+/temperature/degrees, from: probe, each: true, within: 1m }
EOF

mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
mosquitto_pid=$!
trap 'kill "$mosquitto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
if ! kill -0 "$mosquitto_pid" 2>/dev/null; then
  echo "mosquitto did not start:" >&2
  cat "$work/mosquitto.log" >&2
  exit 2
fi

echo "hilt: $devices devices against Mosquitto on 127.0.0.1:$port (scenario: $work/fleet.yaml)"
status=0
if [[ -x /usr/bin/time ]]; then
  # GNU time: hilt's wall and CPU time and its peak memory.
  /usr/bin/time -v -o "$work/hilt-time.txt" "$hilt" replay --broker "mqtt://127.0.0.1:$port" "$work/fleet.yaml" || status=$?
  grep -E 'Elapsed \(wall clock\)|Maximum resident set size|User time|System time' "$work/hilt-time.txt" \
    | sed 's/^[[:space:]]*/hilt: /' || true
else
  "$hilt" replay --broker "mqtt://127.0.0.1:$port" "$work/fleet.yaml" || status=$?
fi
echo "mosquitto: CPU time $(ps -o cputime= -p "$mosquitto_pid"), $(grep -E '^VmHWM' "/proc/$mosquitto_pid/status" | tr -s ' \t' ' ')"
kill "$mosquitto_pid"
wait "$mosquitto_pid" 2>/dev/null || true
trap - EXIT
if [[ -s $work/mosquitto.log ]]; then
  echo "mosquitto's warnings and errors:"
  cat "$work/mosquitto.log"
fi
exit "$status"
