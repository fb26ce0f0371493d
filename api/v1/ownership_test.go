package v1

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDNSNameOwner(t *testing.T) {
	at := func(name string, sec int) *ExternalService {
		return &ExternalService{ObjectMeta: metav1.ObjectMeta{
			Name: name, CreationTimestamp: metav1.NewTime(time.Unix(int64(sec), 0)),
		}}
	}
	deleting := func(es *ExternalService) *ExternalService {
		es.DeletionTimestamp = new(metav1.NewTime(time.Unix(100, 0)))
		return es
	}
	cases := []struct {
		name      string
		claimants []*ExternalService
		want      string
	}{
		{"none", nil, ""},
		{"one", []*ExternalService{at("a", 5)}, "a"},
		{"oldest wins over a smaller name", []*ExternalService{at("a", 9), at("z", 1)}, "z"},
		{"same second: smaller name wins", []*ExternalService{at("b", 1), at("a", 1), at("c", 0)}, "c"},
		{"order of the list does not matter", []*ExternalService{at("b", 1), at("a", 1)}, "a"},
		{"an older one being deleted has given the name up", []*ExternalService{deleting(at("old", 1)), at("new", 2)}, "new"},
		{"only claimants being deleted: no owner", []*ExternalService{deleting(at("a", 1))}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ""
			if w := DNSNameOwner(c.claimants); w != nil {
				got = w.Name
			}
			if got != c.want {
				t.Errorf("DNSNameOwner = %q, want %q", got, c.want)
			}
		})
	}
}

func TestInClusterDomain(t *testing.T) {
	cases := []struct {
		name, domain string
		want         bool
	}{
		{"cluster.local", "cluster.local", true},
		{"svc.cluster.local", "cluster.local", true},
		{"a.b.svc.CLUSTER.local.", "cluster.local.", true},
		{"api.example.com", "cluster.local", false},
		{"notcluster.local", "cluster.local", false},
		{"cluster.local.example.com", "cluster.local", false},
		{"api.example.com", "", false},
		{"api.example.com", ".", false},
	}
	for _, c := range cases {
		if got := InClusterDomain(c.name, c.domain); got != c.want {
			t.Errorf("InClusterDomain(%q, %q) = %v, want %v", c.name, c.domain, got, c.want)
		}
	}
}
