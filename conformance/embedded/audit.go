package embedded

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// auditEvent is the part of an audit.k8s.io/v1 Event the harness reads.
type auditEvent struct {
	StageTimestamp time.Time `json:"stageTimestamp"`
	Verb           string    `json:"verb"`
	User           struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
}

// OperatorWrites implements suite.ControlPlane from the API server's audit
// log, which records every write the operator's identity makes.
func (h *Harness) OperatorWrites(since time.Time) ([]string, error) {
	f, err := os.Open(h.Cluster.AuditLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var writes []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev auditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("read the audit log %s: %w", h.Cluster.AuditLog, err)
		}
		if ev.User.Username != OperatorUser || ev.ObjectRef.Resource == "leases" || ev.ObjectRef.Resource == "events" || !ev.StageTimestamp.After(since) {
			continue
		}
		res := ev.ObjectRef.Resource
		if ev.ObjectRef.Subresource != "" {
			res += "/" + ev.ObjectRef.Subresource
		}
		writes = append(writes, fmt.Sprintf("%s %s %s/%s", ev.Verb, res, ev.ObjectRef.Namespace, ev.ObjectRef.Name))
	}
	return writes, sc.Err()
}
