#!/bin/sh
# scripts/musl-include.sh DIR: the kernel's headers (linux/, asm/,
# asm-generic/) as links in DIR, for musl-gcc, which searches musl's own
# include directory only (supervisor/meson.build builds nsinetd-init so).
set -eu
dir=$1
arch=$(gcc -print-multiarch 2>/dev/null || true)
mkdir -p "$dir"
for d in linux asm-generic; do
	ln -sfn "/usr/include/$d" "$dir/$d"
done
if [ -n "$arch" ] && [ -d "/usr/include/$arch/asm" ]; then
	ln -sfn "/usr/include/$arch/asm" "$dir/asm"
else
	ln -sfn /usr/include/asm "$dir/asm"
fi
