#!/bin/sh
# Fails when an #include crosses a wall the wrong way (DESIGN.md, "The house"):
#   tui/ -> trainer/, tagger/     trainer/ -> kernels/, tagger/     tagger/, kernels/ -> nothing
# and when a room includes another room's private headers (files under ROOM/private/).
status=0
allowed() { # $1 = including room, $2 = included room
    [ "$1" = "$2" ] && return 0
    case "$1:$2" in tui:trainer|tui:tagger|trainer:kernels|trainer:tagger) return 0;; esac
    return 1
}
for room in tui trainer kernels tagger; do
    [ -d "$room" ] || continue
    for f in $(find "$room" -name '*.[ch]' -o -name '*.cu' -o -name '*.cuh'); do
        grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r line; do
            inc=$(printf '%s' "$line" | sed -E 's/.*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/')
            target=${inc%%/*}
            case "$target" in tui|trainer|kernels|tagger) ;; *) continue;; esac
            if ! allowed "$room" "$target"; then
                echo "layer violation: $f:${line%%:*} includes \"$inc\" ($room/ may not use $target/)"; echo x
            elif [ "$room" != "$target" ] && printf '%s' "$inc" | grep -q '/private/'; then
                echo "layer violation: $f:${line%%:*} includes private header \"$inc\""; echo x
            fi
        done
    done
done | tee /tmp/tagbench-layers.$$ | grep -v '^x$'
if grep -q '^x$' /tmp/tagbench-layers.$$; then status=1; else echo "check-layers: ok"; fi
rm -f /tmp/tagbench-layers.$$
exit $status
