//go:build cgo

package fakenvmltest

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func twoGPUs(phase uint64) Machine {
	return Machine{Driver: "550.54.15", GPUs: []GPU{
		{UUID: "GPU-00000000-0000-4000-8000-000000000000", Name: "NVIDIA H100 80GB HBM3", Values: map[string]uint64{
			"util": 10 + phase, "mem_util": 5, "mem_total": 80 << 30, "mem_used": 1e9 + phase,
			"temp": 40, "power_mw": 123456, "power_limit_mw": 700000, "energy_mj": 1000,
			"sm_clock_mhz": 1980, "mem_clock_mhz": 2619, "clocks_event_reasons": 0x5,
		}, Procs: []Proc{{PID: 4242, Mem: 2e9 + phase, SM: 61}, {PID: 4343, Mem: 3e9, SM: 7}}},
		// Nothing but an identity: every reading is NOT_SUPPORTED.
		{UUID: "GPU-11111111-1111-4111-8111-111111111111"},
	}}
}

// The library through the Go binding the receiver uses: what the fixture
// says comes back, what it leaves out is NOT_SUPPORTED, a rewritten
// fixture is seen at the next call, a bad one keeps the previous machine,
// a GPU dropped from it is lost, and calls racing a rewrite see one
// machine or the other.
func TestFakeNVML(t *testing.T) {
	lib := nvml.New(nvml.WithLibraryPath(filepath.Join(Build(t), LibName)))
	fixture := filepath.Join(t.TempDir(), "machine.txt")

	t.Setenv(FixtureEnv, fixture) // not written yet
	require.Equal(t, nvml.ERROR_DRIVER_NOT_LOADED, lib.Init(), "no fixture: no driver")

	twoGPUs(0).Write(t, fixture)
	require.Equal(t, nvml.SUCCESS, lib.Init())
	t.Cleanup(func() { assert.Equal(t, nvml.SUCCESS, lib.Shutdown()) })

	// The receiver's guards: MIG is there (and says not supported), GPM
	// is not, like a pre-Hopper driver.
	for _, sym := range []string{"nvmlInit_v2", "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2",
		"nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetMigMode", "nvmlDeviceGetCurrentClocksEventReasons"} {
		assert.NoError(t, lib.Extensions().LookupSymbol(sym), sym)
	}
	assert.Error(t, lib.Extensions().LookupSymbol("nvmlGpmSampleAlloc"))

	driver, ret := lib.SystemGetDriverVersion()
	require.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, "550.54.15", driver)
	n, ret := lib.DeviceGetCount()
	require.Equal(t, nvml.SUCCESS, ret)
	require.Equal(t, 2, n)
	_, ret = lib.DeviceGetHandleByIndex(2)
	assert.Equal(t, nvml.ERROR_INVALID_ARGUMENT, ret)

	d0, ret := lib.DeviceGetHandleByIndex(0)
	require.Equal(t, nvml.SUCCESS, ret)
	d1, ret := lib.DeviceGetHandleByIndex(1)
	require.Equal(t, nvml.SUCCESS, ret)

	uuid, ret := d0.GetUUID()
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, "GPU-00000000-0000-4000-8000-000000000000", uuid)
	name, ret := d0.GetName()
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, "NVIDIA H100 80GB HBM3", name)
	mem, ret := d0.GetMemoryInfo()
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, nvml.Memory{Total: 80 << 30, Used: 1e9, Free: 80<<30 - 1e9}, mem)
	u, ret := d0.GetUtilizationRates()
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, nvml.Utilization{Gpu: 10, Memory: 5}, u)
	since := uint64(time.Now().Add(-time.Second).UnixMicro())
	vt, samples, ret := d0.GetSamples(nvml.GPU_UTILIZATION_SAMPLES, since)
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, nvml.VALUE_TYPE_UNSIGNED_INT, vt)
	if assert.Len(t, samples, 1) {
		assert.Greater(t, samples[0].TimeStamp, since)
		assert.Equal(t, uint32(10), binary.LittleEndian.Uint32(samples[0].SampleValue[:]))
	}
	_, _, ret = d0.GetSamples(nvml.GPU_UTILIZATION_SAMPLES, uint64(time.Now().Add(time.Hour).UnixMicro()))
	assert.Equal(t, nvml.ERROR_NOT_FOUND, ret, "nothing newer than what was seen")
	temp, ret := d0.GetTemperature(nvml.TEMPERATURE_GPU)
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, uint32(40), temp)
	power, ret := d0.GetPowerUsage()
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, uint32(123456), power)
	limit, ret := d0.GetEnforcedPowerLimit()
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, uint32(700000), limit)
	energy, ret := d0.GetTotalEnergyConsumption()
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, uint64(1000), energy)
	clk, ret := d0.GetClockInfo(nvml.CLOCK_MEM)
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, uint32(2619), clk)
	reasons, ret := d0.GetCurrentClocksEventReasons()
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, uint64(0x5), reasons)
	procs, ret := d0.GetComputeRunningProcesses()
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, []nvml.ProcessInfo{
		{Pid: 4242, UsedGpuMemory: 2e9, GpuInstanceId: 0xFFFFFFFF, ComputeInstanceId: 0xFFFFFFFF},
		{Pid: 4343, UsedGpuMemory: 3e9, GpuInstanceId: 0xFFFFFFFF, ComputeInstanceId: 0xFFFFFFFF},
	}, procs)
	putil, ret := d0.GetProcessUtilization(since)
	assert.Equal(t, nvml.SUCCESS, ret)
	if assert.Len(t, putil, 2) {
		assert.Equal(t, uint32(4242), putil[0].Pid)
		assert.Equal(t, uint32(61), putil[0].SmUtil)
		assert.Greater(t, putil[0].TimeStamp, since)
	}
	fields := []nvml.FieldValue{{FieldId: nvml.FI_DEV_PCIE_COUNT_TX_BYTES}, {FieldId: nvml.FI_DEV_NVLINK_THROUGHPUT_DATA_RX, ScopeId: 0xFFFFFFFF}}
	assert.Equal(t, nvml.SUCCESS, d0.GetFieldValues(fields))
	for _, f := range fields {
		assert.Equal(t, uint32(nvml.ERROR_NOT_SUPPORTED), f.NvmlReturn, "field %d", f.FieldId)
	}
	_, _, ret = d0.GetMigMode()
	assert.Equal(t, nvml.ERROR_NOT_SUPPORTED, ret)
	_, ret = d0.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.VOLATILE_ECC)
	assert.Equal(t, nvml.ERROR_NOT_SUPPORTED, ret, "no ecc_corrected in the fixture")

	// The bare GPU: an identity, no readings, no processes.
	uuid, ret = d1.GetUUID()
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, "GPU-11111111-1111-4111-8111-111111111111", uuid)
	_, ret = d1.GetName()
	assert.Equal(t, nvml.ERROR_NOT_SUPPORTED, ret)
	_, ret = d1.GetMemoryInfo()
	assert.Equal(t, nvml.ERROR_NOT_SUPPORTED, ret)
	_, ret = d1.GetTemperature(nvml.TEMPERATURE_GPU)
	assert.Equal(t, nvml.ERROR_NOT_SUPPORTED, ret)
	_, _, ret = d1.GetSamples(nvml.GPU_UTILIZATION_SAMPLES, since)
	assert.Equal(t, nvml.ERROR_NOT_SUPPORTED, ret)
	procs, ret = d1.GetComputeRunningProcesses()
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Empty(t, procs)
	_, ret = d1.GetProcessUtilization(since)
	assert.Equal(t, nvml.ERROR_NOT_FOUND, ret)

	// A new machine is seen at the next call.
	twoGPUs(7).Write(t, fixture)
	mem, ret = d0.GetMemoryInfo()
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, uint64(1e9+7), mem.Used)

	// A bad fixture keeps the previous machine (and says so on stderr).
	require.NoError(t, writeFile(fixture, "gpu uuid=GPU-x util=lots\n"))
	mem, ret = d0.GetMemoryInfo()
	assert.Equal(t, nvml.SUCCESS, ret)
	assert.Equal(t, uint64(1e9+7), mem.Used)

	// GPU 1 gone from the fixture: its handle is lost.
	one := twoGPUs(8)
	one.GPUs = one.GPUs[:1]
	one.Write(t, fixture)
	_, ret = d1.GetUUID()
	assert.Equal(t, nvml.ERROR_GPU_IS_LOST, ret)
	n, _ = lib.DeviceGetCount()
	assert.Equal(t, 1, n)

	// Readers racing rewrites see phase 100's machine or phase 200's:
	// memory used and the process's memory always of the same phase.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mem, ret := d0.GetMemoryInfo()
				if !assert.Equal(t, nvml.SUCCESS, ret) {
					return
				}
				assert.Contains(t, []uint64{1e9 + 8, 1e9 + 100, 1e9 + 200}, mem.Used)
				procs, ret := d0.GetComputeRunningProcesses()
				if assert.Equal(t, nvml.SUCCESS, ret) && assert.Len(t, procs, 2) {
					assert.Contains(t, []uint64{2e9 + 8, 2e9 + 100, 2e9 + 200}, procs[0].UsedGpuMemory)
				}
			}
		}()
	}
	for i := range 200 {
		twoGPUs(uint64(100*(1+i%2))).Write(t, fixture)
	}
	close(stop)
	wg.Wait()
}

// writeFile replaces path whole, as Machine.Write does.
func writeFile(path, data string) error {
	tmp := path + ".bad"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
