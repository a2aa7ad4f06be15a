# cgsum.awk - sums of a callgrind output file (valgrind --tool=callgrind,
# default options: Ir only, compressed names and positions), one line:
#	ir=TOTAL copy=IR_IN_MEMCPY_MEMMOVE_MEMSET allocs=CALLS frees=CALLS
# allocs counts calls to malloc, calloc, realloc and the aligned
# allocators from anywhere (the program, libc, OpenSSL); frees, calls to
# free.  copy is the instructions spent inside the mem* functions
# themselves, where a copy's cost grows with its length (under valgrind
# each step of a rep movsb counts as one instruction).
function def(s,    id, rest) {
	# "(12) name" defines id 12; "(12)" refers to it
	if (substr(s, 1, 1) != "(")
		return s
	id = substr(s, 2, index(s, ")") - 2)
	rest = substr(s, index(s, ")") + 1)
	sub(/^ /, "", rest)
	if (rest != "")
		name[id] = rest
	return name[id]
}
function isalloc(f) {
	return f == "malloc" || f == "calloc" || f == "realloc" || f == "__libc_malloc" ||
	    f == "__libc_calloc" || f == "__libc_realloc" || f == "posix_memalign" ||
	    f == "aligned_alloc" || f == "memalign" || f == "reallocarray"
}
function iscopy(f) {
	return f ~ /^(__)?mem(cpy|move|set|pcpy)/
}
/^totals:/ { ir = $2; next }
/^fn=/ { cur = def(substr($0, 4)); next }
/^cfn=/ { callee = def(substr($0, 5)); next }
/^calls=/ {
	n = substr($1, 7) + 0
	if (isalloc(callee))
		allocs += n
	else if (callee == "free" || callee == "__libc_free")
		frees += n
	skip = 1	# the next cost line is the call's inclusive cost
	next
}
/^[0-9+*-]/ {
	if (skip) { skip = 0; next }
	if (iscopy(cur))
		copy += $2
	next
}
END { printf "ir=%d copy=%d allocs=%d frees=%d\n", ir, copy, allocs, frees }
