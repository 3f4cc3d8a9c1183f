/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* A fixture for the mutator's self-test (tests/mutate/selftest.sh): each
 * line says which mutants it must give; fixture.expected lists them. Not
 * built. Operators in comments such as a < b && c must give none. */
#include <stdbool.h>

struct log {
	unsigned long last_index;
	unsigned long commit;
};

#ifdef RAFT_SELFCHECK
static int planted(int a, int b)
{
	return a < b;
} /* left out: none */
#endif

static bool behind(const struct log *l, unsigned long index)
{
	/* relop, swap, off-by-one of the index on the right */
	return index < l->last_index;
}

static unsigned long next_of(const struct log *l, int n)
{
	unsigned long next = l->commit + 1; /* no drop; off-by-one */
	if (n == 2 && next > 0)		    /* relop, logop, relop, swap */
		next--;			    /* drop */
	const char *s = "a < b || c";	    /* nothing in a string */
	(void)s;
	return next - l->commit; /* swap */
}

static void set_commit(struct log *l, unsigned long commit)
{
	l->commit = commit; /* drop */
	/* The second line continues the statement: off-by-one, no drop. */
	l->last_index =
	    (unsigned long)sizeof(struct log) * l->commit * 1000ul + commit + 1;
}
