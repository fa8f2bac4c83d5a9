package gpuset

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func idx(n ...int64) []Entry {
	var es []Entry
	for _, i := range n {
		es = append(es, Entry{Index: i})
	}
	return es
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Set
	}{
		{"", Set{All: true}},
		{"  ", Set{All: true}},
		{"all", Set{All: true}},
		{"ALL", Set{All: true}},
		{"none", Set{}},
		{"void", Set{}},
		{"NoDevFiles", Set{}},
		{"-1", Set{}},
		{"2,3", Set{Devices: idx(2, 3)}},
		{"3,2", Set{Devices: idx(3, 2)}},
		{" 2 , 3 ", Set{Devices: idx(2, 3)}},
		{"0,1,-1,2", Set{Devices: idx(0, 1)}},
		{"1,1,2", Set{Devices: idx(1, 2)}},
		{"0,x,1", Set{Devices: idx(0), Invalid: "x"}},
		{"foo", Set{Invalid: "foo"}},
		{"0,,1", Set{Devices: idx(0), Invalid: ""}},
		{"GPU-8932f937-d72c-4106-c12f-20bd9faed9f6", Set{Devices: []Entry{{Index: -1, UUID: "gpu-8932f937-d72c-4106-c12f-20bd9faed9f6"}}}},
		{"GPU-8932,1", Set{Devices: []Entry{{Index: -1, UUID: "gpu-8932"}, {Index: 1}}}},
		{"MIG-4f3b", Set{Devices: []Entry{{Index: -1, UUID: "mig-4f3b"}}}},
		{"GPU-", Set{Invalid: "GPU-"}},
	} {
		assert.Equal(t, c.want, Parse(c.in), "%q", c.in)
	}
}

func TestPosition(t *testing.T) {
	g := func(i int64, uuid string) GPU { return GPU{Index: i, UUID: uuid} }
	for _, c := range []struct {
		set       string
		gpu       GPU
		pos       int64
		viaParent bool
		ok        bool
	}{
		{"all", g(5, "GPU-a"), 5, false, true},
		{"", g(5, "GPU-a"), 5, false, true},
		{"2,3", g(2, "GPU-a"), 0, false, true},
		{"2,3", g(3, "GPU-b"), 1, false, true},
		{"3,2", g(3, "GPU-b"), 0, false, true},
		{"2,3", g(0, "GPU-c"), 0, false, false},
		{"none", g(0, "GPU-c"), 0, false, false},
		{"GPU-BB,GPU-aa", g(7, "GPU-aa11"), 1, false, true},
		{"GPU-bb", g(7, "GPU-aa11"), 0, false, false},
		// A MIG instance named itself is the process's device, named under
		// its parent GPU's position otherwise.
		{"MIG-m1", GPU{Index: 0, UUID: "MIG-m1xx", Parent: "GPU-p", MIG: true}, 0, false, true},
		{"1,0", GPU{Index: 0, UUID: "MIG-m1xx", Parent: "GPU-p", MIG: true}, 1, true, true},
		{"GPU-p", GPU{Index: 0, UUID: "MIG-m1xx", Parent: "GPU-p", MIG: true}, 0, true, true},
		{"MIG-m2", GPU{Index: 0, UUID: "MIG-m1xx", Parent: "GPU-p", MIG: true}, 0, false, false},
		{"all", GPU{Index: 4, UUID: "MIG-m1xx", Parent: "GPU-p", MIG: true}, 4, true, true},
	} {
		pos, via, ok := Parse(c.set).Position(c.gpu)
		assert.Equal(t, c.ok, ok, "%q %+v", c.set, c.gpu)
		if c.ok {
			assert.Equal(t, c.pos, pos, "%q %+v", c.set, c.gpu)
			assert.Equal(t, c.viaParent, via, "%q %+v", c.set, c.gpu)
		}
	}
}

func TestMerge(t *testing.T) {
	assert.Equal(t, Set{Devices: idx(2, 3, 1)}, Parse("2,3").Merge(Parse("3,1")))
	assert.Equal(t, Set{All: true}, Parse("2").Merge(Parse("all")))
	assert.Equal(t, Set{Devices: idx(2)}, Parse("none").Merge(Parse("2")))
	assert.True(t, Parse("2,3").Equal(Parse(" 2,3")))
	assert.False(t, Parse("2,3").Equal(Parse("3,2")))
}

func TestFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	for _, c := range []struct {
		env  map[string]string
		want string
		ok   bool
	}{
		{map[string]string{}, "", false},
		{map[string]string{"CUDA_VISIBLE_DEVICES": "2,3"}, "2,3", true},
		{map[string]string{"CUDA_VISIBLE_DEVICES": "1", "NVIDIA_VISIBLE_DEVICES": "all"}, "1", true},
		{map[string]string{"CUDA_VISIBLE_DEVICES": ""}, "none", true},
		{map[string]string{"NVIDIA_VISIBLE_DEVICES": "GPU-a,GPU-b"}, "GPU-a,GPU-b", true},
		{map[string]string{"NVIDIA_VISIBLE_DEVICES": ""}, "void", true},
	} {
		got, ok := FromEnv(env(c.env))
		assert.Equal(t, c.want, got, "%v", c.env)
		assert.Equal(t, c.ok, ok, "%v", c.env)
	}
}
