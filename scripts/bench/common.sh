# Sourced by the benchmarks in scripts/bench/ (from the repository root): the prelude they share.

# build_release: builds kubectl-ir with the release preset; sets ir to the binary.
build_release() {
  cmake --preset release >/dev/null && cmake --build --preset release --target kubectl-ir >/dev/null
  ir=$PWD/build/release/cmd/kubectl-ir
}

# start_fake_cluster [SUBDIR]: a temporary directory $dir and a fake cluster of the demo scenario in
# $dir/SUBDIR ($dir itself without one), both stopped and removed when the script exits; sets dir,
# kc (the cluster's kubeconfig) and exports KUBECTL_IR_HOME=$dir/ir-home.
start_fake_cluster() {
  dir=$(mktemp -d)
  cluster_dir=$dir${1:+/$1}
  trap 'tests/fake-cluster/stop.sh "$cluster_dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
  kc=$(tests/fake-cluster/start.sh "$cluster_dir" --scenario demo)
  export KUBECTL_IR_HOME=$dir/ir-home
}
