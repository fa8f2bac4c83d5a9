/*
 * fakenvml.c: a fake libnvidia-ml.so.1 for tests of the gpu receiver on a
 * machine without NVIDIA GPUs. go-nvml dlopens "libnvidia-ml.so.1" through
 * the dynamic loader's search path, so a collector started with
 * LD_LIBRARY_PATH=<dir of this library> talks to this file instead of a
 * driver, through the same cgo calls it makes on a real node.
 *
 * It exports the NVML functions the receiver can reach (receiver/gpureceiver
 * gpu_nvml*.go) plus what go-nvml's Init needs. Everything else is absent on
 * purpose: the receiver must never call a symbol it did not look up first,
 * and an absent symbol here is what an older driver looks like (GPM, for
 * one, is left out, so its LookupSymbol guard is taken). A value the fixture
 * does not give is NVML_ERROR_NOT_SUPPORTED, which the receiver remembers
 * per device and never asks again, as on a real GPU lacking the feature.
 *
 * The machine is the text file named by FAKE_NVML_FIXTURE, read at init and
 * read again whenever its inode, size or mtime changes (a test replaces it
 * with a rename), so a running collector sees new values on its next
 * scrape. A fixture that fails to parse after init leaves the previous one
 * in force and is reported on stderr once. Format (# starts a comment):
 *
 *   driver 550.54.15
 *   gpu uuid=GPU-... util=23 mem_used=3000000000 ... name=NVIDIA H100 80GB HBM3
 *   proc pid=41002 mem=12000000000 sm=61
 *
 * Each "gpu" line is the next NVML index; "proc" lines are compute
 * processes of the gpu line above them (host pid, used bytes, SM percent).
 * gpu keys: uuid (required), util and mem_util (percent, through both
 * GetSamples and GetUtilizationRates), mem_total and mem_used (bytes), temp
 * (C), power_mw and power_limit_mw, energy_mj, sm_clock_mhz, mem_clock_mhz,
 * clocks_event_reasons (bit mask), ecc_corrected, ecc_uncorrected; name=
 * takes the rest of the line. A GPU dropped from the fixture is "lost"
 * (NVML_ERROR_GPU_IS_LOST) to handles taken before.
 *
 * Build: gcc -shared -fPIC -pthread -I<go-nvml>/pkg/nvml -o libnvidia-ml.so.1 fakenvml.c
 * with go-nvml's own nvml.h, so every signature is checked by the compiler
 * against the header the Go binding was generated from (test/fakenvml's
 * Build does this).
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "nvml.h"

#define MAX_GPUS 64
#define MAX_PROCS 64
#define LINE_MAX_LEN 1024

enum value_id {
	V_UTIL,
	V_MEM_UTIL,
	V_MEM_TOTAL,
	V_MEM_USED,
	V_TEMP,
	V_POWER,
	V_POWER_LIMIT,
	V_ENERGY,
	V_SM_CLOCK,
	V_MEM_CLOCK,
	V_CLOCK_EVENTS,
	V_ECC_CORRECTED,
	V_ECC_UNCORRECTED,
	V_COUNT
};

static const char *const value_names[V_COUNT] = {
	[V_UTIL] = "util",
	[V_MEM_UTIL] = "mem_util",
	[V_MEM_TOTAL] = "mem_total",
	[V_MEM_USED] = "mem_used",
	[V_TEMP] = "temp",
	[V_POWER] = "power_mw",
	[V_POWER_LIMIT] = "power_limit_mw",
	[V_ENERGY] = "energy_mj",
	[V_SM_CLOCK] = "sm_clock_mhz",
	[V_MEM_CLOCK] = "mem_clock_mhz",
	[V_CLOCK_EVENTS] = "clocks_event_reasons",
	[V_ECC_CORRECTED] = "ecc_corrected",
	[V_ECC_UNCORRECTED] = "ecc_uncorrected",
};

struct proc {
	unsigned int pid;
	unsigned long long mem;
	unsigned int sm;
};

struct gpu {
	char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
	char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
	unsigned long long v[V_COUNT];
	int has[V_COUNT];
	unsigned int nprocs;
	struct proc procs[MAX_PROCS];
};

struct machine {
	char driver[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
	unsigned int ngpus;
	struct gpu gpus[MAX_GPUS];
};

/* Handles stay valid for the life of the process, whatever the fixture
 * says later: go-nvml keeps them, as it would a driver's. */
struct nvmlDevice_st {
	unsigned int index;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int refs;           /* nvmlInit minus nvmlShutdown calls */
static struct machine cur; /* the fixture in force */
static struct machine next; /* a parse in progress; static: too big for a stack */
static struct stat cur_st; /* the fixture file cur was read from */
static int warned;         /* a bad reread was reported */
static struct nvmlDevice_st handles[MAX_GPUS];

static void set_str(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);
	if (n >= size) {
		n = size - 1;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* parse_u64 accepts a whole decimal number and nothing else. */
static int parse_u64(const char *s, unsigned long long *out)
{
	char *end;
	if (*s < '0' || *s > '9') {
		return -1;
	}
	errno = 0;
	*out = strtoull(s, &end, 10);
	return (errno != 0 || *end != '\0') ? -1 : 0;
}

static int parse_gpu(struct gpu *g, char *rest, char *err, size_t errlen)
{
	/* name= starts a token (not, say, inside a uuid) and takes the rest. */
	for (char *name = strstr(rest, "name="); name != NULL; name = strstr(name + 1, "name=")) {
		if (name == rest || name[-1] == ' ' || name[-1] == '\t') {
			set_str(g->name, sizeof g->name, name + 5);
			*name = '\0';
			break;
		}
	}
	char *save = NULL;
	for (char *tok = strtok_r(rest, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "gpu: %s is not key=value", tok);
			return -1;
		}
		*eq = '\0';
		const char *val = eq + 1;
		if (strcmp(tok, "uuid") == 0) {
			set_str(g->uuid, sizeof g->uuid, val);
			continue;
		}
		int id = -1;
		for (int i = 0; i < V_COUNT; i++) {
			if (strcmp(tok, value_names[i]) == 0) {
				id = i;
			}
		}
		if (id < 0) {
			snprintf(err, errlen, "gpu: unknown key %s", tok);
			return -1;
		}
		if (parse_u64(val, &g->v[id]) != 0) {
			snprintf(err, errlen, "gpu: %s=%s is not a number", tok, val);
			return -1;
		}
		g->has[id] = 1;
	}
	if (g->uuid[0] == '\0') {
		snprintf(err, errlen, "gpu: no uuid");
		return -1;
	}
	return 0;
}

static int parse_proc(struct gpu *g, char *rest, char *err, size_t errlen)
{
	if (g->nprocs == MAX_PROCS) {
		snprintf(err, errlen, "more than %d processes on one GPU", MAX_PROCS);
		return -1;
	}
	struct proc *p = &g->procs[g->nprocs];
	memset(p, 0, sizeof *p);
	int have_pid = 0;
	char *save = NULL;
	for (char *tok = strtok_r(rest, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');
		unsigned long long v;
		if (eq == NULL || parse_u64(eq + 1, &v) != 0) {
			snprintf(err, errlen, "proc: %s is not key=number", tok);
			return -1;
		}
		*eq = '\0';
		if (strcmp(tok, "pid") == 0 && v > 0 && v <= 0xFFFFFFFFu) {
			p->pid = (unsigned int)v;
			have_pid = 1;
		} else if (strcmp(tok, "mem") == 0) {
			p->mem = v;
		} else if (strcmp(tok, "sm") == 0 && v <= 100) {
			p->sm = (unsigned int)v;
		} else {
			snprintf(err, errlen, "proc: bad %s", tok);
			return -1;
		}
	}
	if (!have_pid) {
		snprintf(err, errlen, "proc: no pid");
		return -1;
	}
	g->nprocs++;
	return 0;
}

/* parse reads path into next; on error, err says why. */
static int parse(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "open %s: %s", path, strerror(errno));
		return -1;
	}
	memset(&next, 0, sizeof next);
	set_str(next.driver, sizeof next.driver, "0.0.0-fakenvml");
	char line[LINE_MAX_LEN];
	int lineno = 0, rc = 0;
	while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
		lineno++;
		size_t n = strlen(line);
		if (n == sizeof line - 1 && line[n - 1] != '\n') {
			snprintf(err, errlen, "%s:%d: line too long", path, lineno);
			rc = -1;
			break;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t')) {
			line[--n] = '\0';
		}
		char *s = line;
		while (*s == ' ' || *s == '\t') {
			s++;
		}
		if (*s == '\0' || *s == '#') {
			continue;
		}
		char *rest = s + strcspn(s, " \t");
		if (*rest != '\0') {
			*rest++ = '\0';
		}
		char why[256] = "";
		if (strcmp(s, "driver") == 0) {
			set_str(next.driver, sizeof next.driver, rest);
		} else if (strcmp(s, "gpu") == 0) {
			if (next.ngpus == MAX_GPUS) {
				snprintf(why, sizeof why, "more than %d GPUs", MAX_GPUS);
				rc = -1;
			} else if (parse_gpu(&next.gpus[next.ngpus], rest, why, sizeof why) == 0) {
				next.ngpus++;
			} else {
				rc = -1;
			}
		} else if (strcmp(s, "proc") == 0) {
			if (next.ngpus == 0) {
				snprintf(why, sizeof why, "proc before any gpu");
				rc = -1;
			} else {
				rc = parse_proc(&next.gpus[next.ngpus - 1], rest, why, sizeof why);
			}
		} else {
			snprintf(why, sizeof why, "unknown line kind %s", s);
			rc = -1;
		}
		if (rc != 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
		}
	}
	fclose(f);
	return rc;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* load reads the fixture when it changed since the last read. Called with
 * mu held. first: at init, where a bad fixture fails the call. */
static nvmlReturn_t load(int first)
{
	const char *path = getenv("FAKE_NVML_FIXTURE");
	char err[512];
	struct stat st;
	if (path == NULL || *path == '\0') {
		if (first) {
			fprintf(stderr, "fakenvml: FAKE_NVML_FIXTURE is not set\n");
		}
		return first ? NVML_ERROR_DRIVER_NOT_LOADED : NVML_SUCCESS;
	}
	if (stat(path, &st) != 0) {
		snprintf(err, sizeof err, "stat %s: %s", path, strerror(errno));
	} else if (!first && same_file(&st, &cur_st)) {
		return NVML_SUCCESS;
	} else if (parse(path, err, sizeof err) == 0) {
		memcpy(&cur, &next, sizeof cur);
		cur_st = st;
		warned = 0;
		return NVML_SUCCESS;
	}
	if (first) {
		fprintf(stderr, "fakenvml: %s\n", err);
		return NVML_ERROR_DRIVER_NOT_LOADED;
	}
	if (!warned) {
		warned = 1;
		fprintf(stderr, "fakenvml: keeping the previous fixture: %s\n", err);
	}
	return NVML_SUCCESS;
}

/* begin locks and refreshes the fixture; every call but init goes through
 * it and ends with end(). */
static nvmlReturn_t begin(void)
{
	pthread_mutex_lock(&mu);
	if (refs == 0) {
		return NVML_ERROR_UNINITIALIZED;
	}
	return load(0);
}

static nvmlReturn_t end(nvmlReturn_t ret)
{
	pthread_mutex_unlock(&mu);
	return ret;
}

/* device finds the fixture's GPU behind a handle, with mu held. */
static nvmlReturn_t device(nvmlDevice_t d, struct gpu **g)
{
	if (d.handle < &handles[0] || d.handle >= &handles[MAX_GPUS]) {
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	unsigned int i = d.handle->index;
	if (i >= cur.ngpus) {
		return NVML_ERROR_GPU_IS_LOST;
	}
	*g = &cur.gpus[i];
	return NVML_SUCCESS;
}

/* value copies one fixture value of a device, NOT_SUPPORTED when absent. */
static nvmlReturn_t value(nvmlDevice_t d, enum value_id id, unsigned long long *out)
{
	if (out == NULL) {
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	nvmlReturn_t ret = begin();
	if (ret != NVML_SUCCESS) {
		return end(ret);
	}
	struct gpu *g;
	if ((ret = device(d, &g)) != NVML_SUCCESS) {
		return end(ret);
	}
	if (!g->has[id]) {
		return end(NVML_ERROR_NOT_SUPPORTED);
	}
	*out = g->v[id];
	return end(NVML_SUCCESS);
}

static nvmlReturn_t value32(nvmlDevice_t d, enum value_id id, unsigned int *out)
{
	unsigned long long v;
	if (out == NULL) {
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	nvmlReturn_t ret = value(d, id, &v);
	if (ret == NVML_SUCCESS) {
		*out = v > 0xFFFFFFFFull ? 0xFFFFFFFFu : (unsigned int)v;
	}
	return ret;
}

static unsigned long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000ull;
}

static nvmlReturn_t copy_str(char *dst, unsigned int length, const char *src)
{
	if (dst == NULL) {
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	if (strlen(src) >= length) {
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	memcpy(dst, src, strlen(src) + 1);
	return NVML_SUCCESS;
}

/* ---- initialisation ---------------------------------------------------- */

nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
	(void)flags;
	pthread_mutex_lock(&mu);
	nvmlReturn_t ret = NVML_SUCCESS;
	if (refs == 0) {
		for (unsigned int i = 0; i < MAX_GPUS; i++) {
			handles[i].index = i;
		}
		ret = load(1);
	}
	if (ret == NVML_SUCCESS) {
		refs++;
	}
	pthread_mutex_unlock(&mu);
	return ret;
}

nvmlReturn_t nvmlInit_v2(void)
{
	return nvmlInitWithFlags(0);
}

nvmlReturn_t nvmlShutdown(void)
{
	pthread_mutex_lock(&mu);
	nvmlReturn_t ret = NVML_SUCCESS;
	if (refs == 0) {
		ret = NVML_ERROR_UNINITIALIZED;
	} else {
		refs--;
	}
	pthread_mutex_unlock(&mu);
	return ret;
}

const char *nvmlErrorString(nvmlReturn_t result)
{
	switch (result) {
	case NVML_SUCCESS:
		return "Success";
	case NVML_ERROR_UNINITIALIZED:
		return "Uninitialized";
	case NVML_ERROR_INVALID_ARGUMENT:
		return "Invalid Argument";
	case NVML_ERROR_NOT_SUPPORTED:
		return "Not Supported";
	case NVML_ERROR_NOT_FOUND:
		return "Not Found";
	case NVML_ERROR_INSUFFICIENT_SIZE:
		return "Insufficient Size";
	case NVML_ERROR_DRIVER_NOT_LOADED:
		return "Driver Not Loaded";
	case NVML_ERROR_GPU_IS_LOST:
		return "GPU is lost";
	default:
		return "Unknown Error";
	}
}

/* ---- system and devices ------------------------------------------------ */

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
	nvmlReturn_t ret = begin();
	if (ret == NVML_SUCCESS) {
		ret = copy_str(version, length, cur.driver);
	}
	return end(ret);
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
	if (deviceCount == NULL) {
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	nvmlReturn_t ret = begin();
	if (ret == NVML_SUCCESS) {
		*deviceCount = cur.ngpus;
	}
	return end(ret);
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *dev)
{
	if (dev == NULL) {
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	nvmlReturn_t ret = begin();
	if (ret == NVML_SUCCESS) {
		if (index >= cur.ngpus) {
			ret = NVML_ERROR_INVALID_ARGUMENT;
		} else {
			dev->handle = &handles[index];
		}
	}
	return end(ret);
}

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t dev, unsigned int *index)
{
	if (index == NULL) {
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	nvmlReturn_t ret = begin();
	struct gpu *g;
	if (ret == NVML_SUCCESS && (ret = device(dev, &g)) == NVML_SUCCESS) {
		*index = dev.handle->index;
	}
	return end(ret);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t dev, char *uuid, unsigned int length)
{
	nvmlReturn_t ret = begin();
	struct gpu *g;
	if (ret == NVML_SUCCESS && (ret = device(dev, &g)) == NVML_SUCCESS) {
		ret = copy_str(uuid, length, g->uuid);
	}
	return end(ret);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t dev, char *name, unsigned int length)
{
	nvmlReturn_t ret = begin();
	struct gpu *g;
	if (ret == NVML_SUCCESS && (ret = device(dev, &g)) == NVML_SUCCESS) {
		ret = g->name[0] == '\0' ? NVML_ERROR_NOT_SUPPORTED : copy_str(name, length, g->name);
	}
	return end(ret);
}

/* No MIG: the receiver looks these three up before calling them, and a GPU
 * without MIG answers NOT_SUPPORTED. */
nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t dev, unsigned int *currentMode, unsigned int *pendingMode)
{
	(void)currentMode;
	(void)pendingMode;
	nvmlReturn_t ret = begin();
	struct gpu *g;
	if (ret == NVML_SUCCESS && (ret = device(dev, &g)) == NVML_SUCCESS) {
		ret = NVML_ERROR_NOT_SUPPORTED;
	}
	return end(ret);
}

nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t dev, unsigned int *count)
{
	(void)dev;
	(void)count;
	return NVML_ERROR_NOT_SUPPORTED;
}

nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t dev, unsigned int index, nvmlDevice_t *migDevice)
{
	(void)dev;
	(void)index;
	(void)migDevice;
	return NVML_ERROR_NOT_SUPPORTED;
}

/* ---- device readings --------------------------------------------------- */

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t dev, nvmlUtilization_t *utilization)
{
	unsigned int gpu, mem;
	if (utilization == NULL) {
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	nvmlReturn_t ret = value32(dev, V_UTIL, &gpu);
	if (ret == NVML_SUCCESS) {
		ret = value32(dev, V_MEM_UTIL, &mem);
	}
	if (ret == NVML_SUCCESS) {
		utilization->gpu = gpu;
		utilization->memory = mem;
	}
	return ret;
}

/* nvmlDeviceGetSamples: one sample, stamped now, of the fixture's percent;
 * NOT_FOUND when the caller has seen up to now already. */
nvmlReturn_t nvmlDeviceGetSamples(nvmlDevice_t dev, nvmlSamplingType_t type, unsigned long long lastSeenTimeStamp,
				  nvmlValueType_t *sampleValType, unsigned int *sampleCount, nvmlSample_t *samples)
{
	enum value_id id;
	switch (type) {
	case NVML_GPU_UTILIZATION_SAMPLES:
		id = V_UTIL;
		break;
	case NVML_MEMORY_UTILIZATION_SAMPLES:
		id = V_MEM_UTIL;
		break;
	default:
		return NVML_ERROR_NOT_SUPPORTED;
	}
	if (sampleValType == NULL || sampleCount == NULL) {
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	unsigned int v;
	nvmlReturn_t ret = value32(dev, id, &v);
	if (ret != NVML_SUCCESS) {
		return ret;
	}
	unsigned long long ts = now_us();
	if (ts <= lastSeenTimeStamp) {
		return NVML_ERROR_NOT_FOUND;
	}
	*sampleValType = NVML_VALUE_TYPE_UNSIGNED_INT;
	if (samples == NULL) {
		*sampleCount = 1;
		return NVML_SUCCESS;
	}
	if (*sampleCount < 1) {
		*sampleCount = 1;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	memset(&samples[0], 0, sizeof samples[0]);
	samples[0].timeStamp = ts;
	samples[0].sampleValue.uiVal = v;
	*sampleCount = 1;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t dev, nvmlMemory_t *memory)
{
	unsigned long long total, used;
	if (memory == NULL) {
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	nvmlReturn_t ret = value(dev, V_MEM_TOTAL, &total);
	if (ret == NVML_SUCCESS) {
		ret = value(dev, V_MEM_USED, &used);
	}
	if (ret == NVML_SUCCESS) {
		memory->total = total;
		memory->used = used;
		memory->free = used < total ? total - used : 0;
	}
	return ret;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t dev, nvmlTemperatureSensors_t sensorType, unsigned int *temp)
{
	if (sensorType != NVML_TEMPERATURE_GPU) {
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	return value32(dev, V_TEMP, temp);
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t dev, unsigned int *power)
{
	return value32(dev, V_POWER, power);
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t dev, unsigned int *limit)
{
	return value32(dev, V_POWER_LIMIT, limit);
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t dev, unsigned long long *energy)
{
	return value(dev, V_ENERGY, energy);
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t dev, nvmlClockType_t type, unsigned int *clock)
{
	switch (type) {
	case NVML_CLOCK_GRAPHICS:
	case NVML_CLOCK_SM:
		return value32(dev, V_SM_CLOCK, clock);
	case NVML_CLOCK_MEM:
		return value32(dev, V_MEM_CLOCK, clock);
	default:
		return NVML_ERROR_NOT_SUPPORTED;
	}
}

nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t dev, unsigned long long *clocksEventReasons)
{
	return value(dev, V_CLOCK_EVENTS, clocksEventReasons);
}

nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t dev, unsigned long long *clocksThrottleReasons)
{
	return value(dev, V_CLOCK_EVENTS, clocksThrottleReasons);
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t dev, nvmlMemoryErrorType_t errorType,
					 nvmlEccCounterType_t counterType, unsigned long long *eccCounts)
{
	if (counterType != NVML_VOLATILE_ECC) {
		return NVML_ERROR_NOT_SUPPORTED;
	}
	return value(dev, errorType == NVML_MEMORY_ERROR_TYPE_CORRECTED ? V_ECC_CORRECTED : V_ECC_UNCORRECTED, eccCounts);
}

/* No field (PCIe, NVLink counters) is supported: each value says so, the
 * call itself succeeds, as on a GPU without NVLink. */
nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t dev, int valuesCount, nvmlFieldValue_t *values)
{
	if (valuesCount < 0 || (valuesCount > 0 && values == NULL)) {
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	nvmlReturn_t ret = begin();
	struct gpu *g;
	if (ret == NVML_SUCCESS && (ret = device(dev, &g)) == NVML_SUCCESS) {
		long long ts = (long long)now_us();
		for (int i = 0; i < valuesCount; i++) {
			values[i].timestamp = ts;
			values[i].latencyUsec = 0;
			values[i].valueType = NVML_VALUE_TYPE_UNSIGNED_LONG_LONG;
			values[i].nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
			memset(&values[i].value, 0, sizeof values[i].value);
		}
	}
	return end(ret);
}

/* ---- processes ----------------------------------------------------------- */

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t dev, unsigned int *infoCount, nvmlProcessInfo_t *infos)
{
	if (infoCount == NULL) {
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	nvmlReturn_t ret = begin();
	struct gpu *g;
	if (ret != NVML_SUCCESS || (ret = device(dev, &g)) != NVML_SUCCESS) {
		return end(ret);
	}
	unsigned int n = g->nprocs;
	if (*infoCount < n || (n > 0 && infos == NULL)) {
		*infoCount = n;
		return end(NVML_ERROR_INSUFFICIENT_SIZE);
	}
	for (unsigned int i = 0; i < n; i++) {
		infos[i].pid = g->procs[i].pid;
		infos[i].usedGpuMemory = g->procs[i].mem;
		infos[i].gpuInstanceId = 0xFFFFFFFFu;
		infos[i].computeInstanceId = 0xFFFFFFFFu;
	}
	*infoCount = n;
	return end(NVML_SUCCESS);
}

/* nvmlDeviceGetProcessUtilization: one sample per process, stamped now;
 * NOT_FOUND without processes or when the caller has seen up to now. */
nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t dev, nvmlProcessUtilizationSample_t *utilization,
					     unsigned int *processSamplesCount, unsigned long long lastSeenTimeStamp)
{
	if (processSamplesCount == NULL) {
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	nvmlReturn_t ret = begin();
	struct gpu *g;
	if (ret != NVML_SUCCESS || (ret = device(dev, &g)) != NVML_SUCCESS) {
		return end(ret);
	}
	unsigned long long ts = now_us();
	unsigned int n = g->nprocs;
	if (n == 0 || ts <= lastSeenTimeStamp) {
		return end(NVML_ERROR_NOT_FOUND);
	}
	if (utilization == NULL || *processSamplesCount < n) {
		*processSamplesCount = n;
		return end(NVML_ERROR_INSUFFICIENT_SIZE);
	}
	for (unsigned int i = 0; i < n; i++) {
		memset(&utilization[i], 0, sizeof utilization[i]);
		utilization[i].pid = g->procs[i].pid;
		utilization[i].timeStamp = ts;
		utilization[i].smUtil = g->procs[i].sm;
	}
	*processSamplesCount = n;
	return end(NVML_SUCCESS);
}
