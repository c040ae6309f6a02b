# Merge kea-etl's reservations fragment (memfile:OUT/reservations4.json or reservations6.json)
# into a Kea configuration, subnet by subnet (matched by id, shared networks included), keeping
# the reservations the configuration already has; host-only (global) reservations go to the
# global list. The configuration must be plain JSON (Kea's comments are not JSON).
#   jq --slurpfile r out/reservations4.json -f scripts/merge-reservations.jq \
#      /etc/kea/kea-dhcp4.conf > kea-dhcp4.merged.conf && kea-dhcp4 -t kea-dhcp4.merged.conf
(($r[0] | keys[0]) // "Dhcp4") as $d
| ($r[0][$d] // {}) as $frag
| ((if $d == "Dhcp4" then $frag.subnet4 else $frag.subnet6 end) // []
   | map({key: (.id | tostring), value: .reservations}) | from_entries) as $m
| (if $d == "Dhcp4" then "subnet4" else "subnet6" end) as $sub
| def add: . + {reservations: ((.reservations // []) + ($m[.id | tostring] // []))};
  .[$d][$sub] |= ((. // []) | map(add))
| if .[$d]["shared-networks"] then .[$d]["shared-networks"] |= map(.[$sub] |= map(add)) else . end
| if ($frag.reservations // []) != [] then .[$d].reservations = ((.[$d].reservations // []) + $frag.reservations) else . end
