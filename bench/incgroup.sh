#!/bin/bash
# usage: bench/incgroup.sh LIMIT_BYTES NAME CMD...  — run CMD in a cgroup-v1 memory cgroup capped at
# LIMIT_BYTES (page cache charged to it, as in a container); prints its max usage, failcnt and
# OOM kills. Needs root and the v1 memory controller. Used for docs/benchmarks.md "2.2 GB cgroup".
LIMIT=$1; NAME=$2; shift 2
BASE=/sys/fs/cgroup/memory$(grep ':memory:' /proc/self/cgroup | cut -d: -f3)
CG=$BASE/$NAME
[ -d $CG ] && rmdir $CG; mkdir $CG
echo $LIMIT > $CG/memory.limit_in_bytes
echo 0 > $CG/memory.max_usage_in_bytes 2>/dev/null
bash -c "echo \$\$ > $CG/cgroup.procs; exec \"\$@\"" _ "$@"
rc=$?
echo "cgroup $NAME: rc=$rc limit=$(( $(cat $CG/memory.limit_in_bytes) >> 20 )) MiB max_usage=$(( $(cat $CG/memory.max_usage_in_bytes) >> 20 )) MiB failcnt=$(cat $CG/memory.failcnt) oom_kill=$(grep oom_kill $CG/memory.oom_control 2>/dev/null | awk '{print $2}')" >&2
exit $rc
