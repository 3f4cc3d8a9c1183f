/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * Allocation failures on demand, for tests linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc: after
 * alloc_fail_after(n), the n+1-th allocation from then on (and every one
 * after it, until alloc_fail_off()) returns NULL. Included by exactly one
 * file of a test program.
 *
 * A test walks n = 0, 1, 2, ... until an operation runs without an injected
 * failure, checking at each step that the failed operation reported it and
 * changed nothing.
 */
#ifndef TESTS_PLUGIN_ALLOC_FAIL_H
#define TESTS_PLUGIN_ALLOC_FAIL_H

#include <stdbool.h>
#include <stddef.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

static long alloc_countdown = -1; /* -1: never fail */
static bool alloc_injected;

static inline void alloc_fail_after(long n)
{
	alloc_countdown = n;
	alloc_injected = false;
}

/* Stops failing; true when a failure was injected since alloc_fail_after. */
static inline bool alloc_fail_off(void)
{
	alloc_countdown = -1;
	return alloc_injected;
}

static inline bool alloc_should_fail(void)
{
	if (alloc_countdown < 0)
		return false;
	if (alloc_countdown == 0) {
		alloc_injected = true;
		return true;
	}
	alloc_countdown--;
	return false;
}

void *__wrap_malloc(size_t size)
{
	return alloc_should_fail() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return alloc_should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	return alloc_should_fail() ? NULL : __real_realloc(p, size);
}

#endif
