// Written by hand in the layout mdatagen generates (mdatagen is not available
// to this project); ../../metadata.yaml describes the same metrics and
// TestMetadataConsistency fails when the two drift apart.

package metadata

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Resource attribute keys.
const (
	ResAttrHostName        = "host.name"
	ResAttrHwID            = "hw.id"
	ResAttrHwName          = "hw.name"
	ResAttrHwModel         = "hw.model"
	ResAttrHwVendor        = "hw.vendor"
	ResAttrHwDriverVersion = "hw.driver_version"
	ResAttrHwParent        = "hw.parent"
	ResAttrHwType          = "hw.type"
	ResAttrHwGpuIndex      = "hw.gpu.index"
	ResAttrHwGpuMigIndex   = "hw.gpu.mig.index"
	// A pod's or a Slurm job's resource (cgroup_root): what its cgroup names.
	ResAttrK8sPodUID  = "k8s.pod.uid"
	ResAttrSlurmJobID = "slurm.job.id"
	// Not semantic conventions: what the node's kubelet says (pod_resources_socket).
	ResAttrOtelcolGpuPods     = "otelcol.gpu.pods"
	ResAttrOtelcolKubeletPods = "otelcol.kubelet.pods"
)

// ResourceBuilder assembles the attributes of one resource (the host, one GPU,
// one MIG instance, one pod or one Slurm job).
type ResourceBuilder struct {
	res pcommon.Resource
}

// NewResourceBuilder returns an empty builder.
func NewResourceBuilder() *ResourceBuilder {
	return &ResourceBuilder{res: pcommon.NewResource()}
}

func (rb *ResourceBuilder) setStr(k, v string) {
	if v != "" {
		rb.res.Attributes().PutStr(k, v)
	}
}

// SetHostName sets host.name.
func (rb *ResourceBuilder) SetHostName(v string) { rb.setStr(ResAttrHostName, v) }

// SetHwID sets hw.id, the stable identity of a GPU (its UUID) or MIG instance.
func (rb *ResourceBuilder) SetHwID(v string) { rb.setStr(ResAttrHwID, v) }

// SetHwName sets hw.name, a short human-readable name such as "gpu0".
func (rb *ResourceBuilder) SetHwName(v string) { rb.setStr(ResAttrHwName, v) }

// SetHwModel sets hw.model (the NVML product name).
func (rb *ResourceBuilder) SetHwModel(v string) { rb.setStr(ResAttrHwModel, v) }

// SetHwVendor sets hw.vendor.
func (rb *ResourceBuilder) SetHwVendor(v string) { rb.setStr(ResAttrHwVendor, v) }

// SetHwDriverVersion sets hw.driver_version.
func (rb *ResourceBuilder) SetHwDriverVersion(v string) { rb.setStr(ResAttrHwDriverVersion, v) }

// SetHwParent sets hw.parent, the hw.id of the physical GPU of a MIG instance.
func (rb *ResourceBuilder) SetHwParent(v string) { rb.setStr(ResAttrHwParent, v) }

// SetHwTypeGpu sets hw.type to gpu, the only value this receiver uses.
func (rb *ResourceBuilder) SetHwTypeGpu() { rb.setStr(ResAttrHwType, "gpu") }

// SetHwGpuIndex sets hw.gpu.index, the NVML index (neither the CUDA index nor
// stable across reboots, hence not the identity).
func (rb *ResourceBuilder) SetHwGpuIndex(v int) {
	rb.res.Attributes().PutInt(ResAttrHwGpuIndex, int64(v))
}

// SetHwGpuMigIndex sets hw.gpu.mig.index, the MIG slot on the parent GPU.
func (rb *ResourceBuilder) SetHwGpuMigIndex(v int) {
	rb.res.Attributes().PutInt(ResAttrHwGpuMigIndex, int64(v))
}

// SetK8sPodUID sets k8s.pod.uid, the UID (dashed) of the pod a resource
// stands for.
func (rb *ResourceBuilder) SetK8sPodUID(v string) { rb.setStr(ResAttrK8sPodUID, v) }

// SetSlurmJobID sets slurm.job.id, the Slurm job a resource stands for.
func (rb *ResourceBuilder) SetSlurmJobID(v string) { rb.setStr(ResAttrSlurmJobID, v) }

// SetOtelcolGpuPods sets otelcol.gpu.pods, the pods ("namespace/name") the
// kubelet allocated the GPU or MIG instance to; empty: none.
func (rb *ResourceBuilder) SetOtelcolGpuPods(v []string) { PutPods(rb.res, ResAttrOtelcolGpuPods, v) }

// SetOtelcolKubeletPods sets otelcol.kubelet.pods, every pod of the node.
func (rb *ResourceBuilder) SetOtelcolKubeletPods(v []string) {
	PutPods(rb.res, ResAttrOtelcolKubeletPods, v)
}

// PutPods sets a pod list attribute on res (also on a copy of a built
// resource: the pods change between scrapes, the GPU does not).
func PutPods(res pcommon.Resource, key string, pods []string) {
	s := res.Attributes().PutEmptySlice(key)
	s.EnsureCapacity(len(pods))
	for _, p := range pods {
		s.AppendEmpty().SetStr(p)
	}
}

// Emit returns the resource and resets the builder.
func (rb *ResourceBuilder) Emit() pcommon.Resource {
	r := rb.res
	rb.res = pcommon.NewResource()
	return r
}
