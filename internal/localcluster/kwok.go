package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/egressgate/egressgate/internal/supervisor"
)

// kwok stands in for the kubelet: it runs one fake node, gives the pods the
// scheduler places on it an IP from PodCIDR and makes them Ready.

// PodCIDR is where kwok gives pods their IPs: 198.18.0.0/16, a range
// reserved for benchmarking. Start makes it local to this machine (on the
// loopback interface), so a test can send packets from a pod's IP; loopback
// addresses themselves cannot be used, as EndpointSlices refuse them.
const PodCIDR = "198.18.0.1/16"

// podProbeIP is an address inside PodCIDR used to check it is local.
const podProbeIP = "198.18.255.254"

// makePodIPsLocal binds PodCIDR to the loopback interface unless it is
// already local. It needs root (CAP_NET_ADMIN); without it the cluster still
// runs, but nothing can speak from a pod's IP.
func (c *Cluster) makePodIPsLocal() error {
	if canBind(podProbeIP) {
		return nil
	}
	out, err := exec.Command("ip", "addr", "add", PodCIDR, "dev", "lo").CombinedOutput()
	if err != nil || !canBind(podProbeIP) {
		return fmt.Errorf("pod IPs (%s) are not local addresses and 'ip addr add %s dev lo' failed: %v %s; run it as root once",
			PodCIDR, PodCIDR, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func canBind(ip string) bool {
	conn, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func (c *Cluster) startKwok(ctx context.Context) error {
	if err := c.makePodIPsLocal(); err != nil {
		fmt.Fprintf(c.opts.Progress, "   warning: %v\n", err)
	} else {
		c.PodIPsAreLocal = true
	}
	port, err := supervisor.FreePort()
	if err != nil {
		return err
	}
	p, err := c.start("kwok", c.bin("kwok"), []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--config=" + filepath.Join(c.opts.BinDir, "kwok-stages.yaml"),
		"--cidr=" + PodCIDR, "--node-ip=127.0.0.1",
		// kwok renews the node's Lease; without it the controller-manager
		// finds the node silent after 40s and marks every pod NotReady.
		"--node-lease-duration-seconds=40",
		"--server-address=127.0.0.1:" + itoa(port),
	}, nil, c.Dir)
	if err != nil {
		return err
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"type": "kwok", "topology.kubernetes.io/zone": "local-a",
			},
		},
		Status: corev1.NodeStatus{Allocatable: cpuMemPods(), Capacity: cpuMemPods()},
	}
	if err := c.Client.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", NodeName, err)
	}
	return p.WaitReady(ctx, NodeReadyTimeout, func(ctx context.Context) error {
		n := &corev1.Node{}
		if err := c.Client.Get(ctx, types.NamespacedName{Name: NodeName}, n); err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return errors.New("node not Ready yet")
	})
}

func resourceMust(s string) resource.Quantity { return resource.MustParse(s) }

func cpuMemPods() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resourceMust("32"),
		corev1.ResourceMemory: resourceMust("256Gi"),
		corev1.ResourcePods:   resourceMust("250"),
	}
}
