/*
 * timerfloor: what the host's timer costs a generator written in C, with no
 * runtime in the way. It plays Poisson arrivals at QPS for SECS seconds,
 * sleeping on a timer fd (CLOCK_MONOTONIC, absolute) until MARGIN_US before
 * each arrival and spinning the rest, and prints its process CPU and how
 * late each arrival was. scripts/spin-bench.sh runs it beside gpuperf so
 * gpuperf's generator can be judged against the host's floor (issue 18).
 *
 *   cc -O2 -o timerfloor scripts/timerfloor.c -lm
 *   ./timerfloor QPS [SECS [MARGIN_US]]
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int64_t cpu_ns(void) {
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000000000LL +
	       (r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1000LL;
}

static int by_value(const void *a, const void *b) {
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: %s QPS [SECS [MARGIN_US]]\n", argv[0]);
		return 2;
	}
	double qps = atof(argv[1]);
	double secs = argc > 2 ? atof(argv[2]) : 10;
	int64_t margin = argc > 3 ? (int64_t)(atof(argv[3]) * 1000) : 0;
	if (qps <= 0 || secs <= 0 || margin < 0) {
		fprintf(stderr, "timerfloor: QPS and SECS must be positive, MARGIN_US not negative\n");
		return 2;
	}
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (fd < 0) {
		perror("timerfloor: timerfd_create");
		return 1;
	}
	size_t n = (size_t)(qps * secs);
	int64_t *late = malloc(n * sizeof *late);
	if (late == NULL) {
		perror("timerfloor");
		return 1;
	}
	srand48(1);
	long sleeps = 0;
	int64_t start = now_ns() + 1000000, due = start, cpu0 = cpu_ns();
	for (size_t i = 0; i < n; i++) {
		due += (int64_t)(-log(1 - drand48()) / qps * 1e9);
		int64_t wake = due - margin;
		if (wake > now_ns()) {
			struct itimerspec it = {.it_value = {wake / 1000000000LL, wake % 1000000000LL}};
			uint64_t expirations;
			if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &it, NULL) == 0 &&
			    read(fd, &expirations, sizeof expirations) < 0)
				perror("timerfloor: read");
			sleeps++;
		}
		while (now_ns() < due)
			;
		late[i] = now_ns() - due;
	}
	int64_t wall = now_ns() - start, cpu = cpu_ns() - cpu0;
	qsort(late, n, sizeof *late, by_value);
	printf("timerfloor %.0f QPS, margin %lld us: process CPU %.1f%%, late p50 %.1f us p99 %.1f us, %.2f sleeps per arrival\n",
	       qps, (long long)(margin / 1000), 100.0 * cpu / wall, late[n / 2] / 1e3,
	       late[n * 99 / 100] / 1e3, (double)sleeps / n);
	free(late);
	return 0;
}
