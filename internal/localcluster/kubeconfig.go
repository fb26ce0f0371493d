package localcluster

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Who may reach the API server: the cluster-admin token and one token per
// Options.Users entry (the API server's token file), a kubeconfig for each,
// and the audit policy that records the users' writes.

// writeTokens gives the admin and every user a random token and writes the
// API server's token file into dir. It returns the admin's token and the
// file's path.
func (c *Cluster) writeTokens(dir string) (adminToken, path string, err error) {
	adminToken, err = randomToken()
	if err != nil {
		return "", "", err
	}
	tokens := adminToken + `,egressgate-admin,egressgate-admin,"system:masters"` + "\n"
	c.userTokens = map[string]string{}
	for i, u := range c.opts.Users {
		t, err := randomToken()
		if err != nil {
			return "", "", err
		}
		c.userTokens[u.Name] = t
		tokens += fmt.Sprintf("%s,%s,user-%d,%q\n", t, u.Name, i, strings.Join(u.Groups, ","))
	}
	path = filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(path, []byte(tokens), 0o600); err != nil {
		return "", "", fmt.Errorf("write the API server's token file: %w", err)
	}
	return adminToken, path, nil
}

// userNames lists the names of Options.Users, in order.
func (c *Cluster) userNames() []string {
	var names []string
	for _, u := range c.opts.Users {
		names = append(names, u.Name)
	}
	return names
}

// writeKubeconfigs writes the cluster-admin kubeconfig (Cluster.Kubeconfig)
// and one per user (KubeconfigFor).
func (c *Cluster) writeKubeconfigs(host, adminToken string) error {
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, host, adminToken); err != nil {
		return err
	}
	for name, t := range c.userTokens {
		if err := writeKubeconfig(c.KubeconfigFor(name), host, t); err != nil {
			return err
		}
	}
	return nil
}

// WriteKubeconfigForToken writes a kubeconfig to path that authenticates
// with token, a ServiceAccount's from a TokenRequest, say.
func (c *Cluster) WriteKubeconfigForToken(path, token string) error {
	return writeKubeconfig(path, c.Config.Host, token)
}

// KubeconfigFor is the path of a kubeconfig that authenticates as one of
// Options.Users.
func (c *Cluster) KubeconfigFor(user string) string {
	// KUBECONFIG is a list separated by ':', which user names often contain.
	return filepath.Join(c.Dir, "kubeconfig-"+strings.ReplaceAll(user, ":", "_"))
}

// auditPolicyFor records, at Metadata level, every write the users make,
// and nothing else.
func auditPolicyFor(users []string) string {
	policy := "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n"
	if len(users) > 0 {
		quoted, _ := json.Marshal(users)
		policy += "- level: Metadata\n  users: " + string(quoted) + "\n  verbs: [create, update, patch, delete, deletecollection]\n"
	}
	return policy + "- level: None\n"
}

func writeKubeconfig(path, host, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["egressgate"] = &clientcmdapi.Cluster{Server: host, InsecureSkipTLSVerify: true}
	cfg.AuthInfos["egressgate-admin"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["egressgate"] = &clientcmdapi.Context{Cluster: "egressgate", AuthInfo: "egressgate-admin"}
	cfg.CurrentContext = "egressgate"
	return clientcmd.WriteToFile(*cfg, path)
}

func writeRSAKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate the service account key: %w", err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return os.WriteFile(path, b, 0o600)
}

func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
