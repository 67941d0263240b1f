# Shared paths and tool settings, sourced by the scripts and read by the Makefile.
# Everything built or downloaded lives outside the repository, under UB_CACHE.
KERNEL_SERIES=7.3
UB_CACHE=${UB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ub}
UB_KSRC=$UB_CACHE/linux-source-$KERNEL_SERIES
UB_SRC_STAMP=$UB_KSRC/.ub-kernelversion
BINDGEN=${BINDGEN:-$HOME/.cargo/bin/bindgen}
# Debian's rustc-web matches LLVM 22; the rustup toolchain has no rust-src.
KMAKE_ARGS=(LLVM=-22 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTFMT=/usr/bin/rustfmt
	BINDGEN="$BINDGEN" CLIPPY_DRIVER=/usr/bin/clippy-driver)
export UB_CACHE
