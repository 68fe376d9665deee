#!/bin/sh
# The GPU worker container's entrypoint.
# SageMaker hosting starts the container as `<image> serve` and expects HTTP on :8080 (/ping, /invocations);
# ECS starts it with no argument: the SQS-polling worker.
set -eu

# CUDA forward compatibility: when the host's NVIDIA driver is older than the one this image's CUDA was built
# for, load the image's own libcuda from /usr/local/cuda/compat (data-center GPUs only). SageMaker's GPU AMIs
# "with disabled CUDA-compat mounting" leave this to the container; on a newer driver it changes nothing.
host_driver_is_older_than_compat() {
    compat=/usr/local/cuda/compat/libcuda.so.1
    if [ ! -e "$compat" ] || [ ! -r /proc/driver/nvidia/version ]; then
        return 1
    fi
    needed=$(readlink "$compat" | cut -d. -f3-)
    host=$(sed -n 's/^NVRM.*Kernel Module *\([0-9.]*\).*$/\1/p' /proc/driver/nvidia/version)
    if [ -z "$needed" ] || [ -z "$host" ] || [ "$host" = "$needed" ]; then
        return 1
    fi
    [ "$(printf '%s\n%s\n' "$host" "$needed" | sort -V | head -n 1)" = "$host" ]
}

if host_driver_is_older_than_compat; then
    export LD_LIBRARY_PATH="/usr/local/cuda/compat${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

case "${1:-}" in
    serve) exec maas worker serve --port 8080 ;;
    *) exec maas worker run ;;
esac
