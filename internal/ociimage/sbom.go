package ociimage

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// SPDX 2.3 JSON, the fields egressgate writes.
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	Comment           string             `json:"comment,omitempty"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string            `json:"name"`
	SPDXID           string            `json:"SPDXID"`
	VersionInfo      string            `json:"versionInfo,omitempty"`
	Supplier         string            `json:"supplier"`
	DownloadLocation string            `json:"downloadLocation"`
	FilesAnalyzed    bool              `json:"filesAnalyzed"`
	Checksums        []spdxChecksum    `json:"checksums,omitempty"`
	ExternalRefs     []spdxExternalRef `json:"externalRefs,omitempty"`
	PrimaryPurpose   string            `json:"primaryPackagePurpose,omitempty"`
	Comment          string            `json:"comment,omitempty"`
}

type spdxChecksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type spdxExternalRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// SBOM is an SPDX 2.3 JSON document of the Go modules linked into binary,
// read from its build info: the main module (at meta.Version), every
// dependency (the replacement where one is in effect) and the Go standard
// library. It is deterministic: its time is meta.Created and its namespace
// is derived from its content.
func SBOM(img Image, meta Metadata, binary string) ([]byte, error) {
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("reading the Go build info of %s for the SBOM: %w", binary, err)
	}
	main := spdxModule(info.Main, "APPLICATION")
	if main.VersionInfo == "" || main.VersionInfo == "(devel)" {
		main.VersionInfo = meta.Version
		main.ExternalRefs = []spdxExternalRef{purl(info.Main.Path, meta.Version)}
	}
	main.DownloadLocation = "git+" + Source + ".git"
	if meta.Commit != "" {
		main.DownloadLocation += "@" + meta.Commit
	}
	stdlib := spdxPackage{
		Name: "stdlib", SPDXID: "SPDXRef-Package-stdlib", VersionInfo: info.GoVersion,
		Supplier: "NOASSERTION", DownloadLocation: "https://go.dev/dl/",
		ExternalRefs: []spdxExternalRef{purl("stdlib", info.GoVersion)},
	}
	doc := spdxDocument{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:    img.Name + "-" + meta.Version,
		Comment: "Go build settings: " + buildSettings(info.Settings),
		CreationInfo: spdxCreationInfo{
			Created:  meta.Created.UTC().Format(time.RFC3339),
			Creators: []string{"Organization: egressgate", "Tool: egressgate-hack-images"},
		},
		Packages: []spdxPackage{main, stdlib},
		Relationships: []spdxRelationship{
			{Element: "SPDXRef-DOCUMENT", Type: "DESCRIBES", Related: main.SPDXID},
			{Element: main.SPDXID, Type: "DEPENDS_ON", Related: stdlib.SPDXID},
		},
	}
	seen := map[string]bool{main.SPDXID: true, stdlib.SPDXID: true}
	for _, dep := range info.Deps {
		p := spdxModule(*dep, "LIBRARY")
		for base, n := p.SPDXID, 2; seen[p.SPDXID]; n++ {
			p.SPDXID = fmt.Sprintf("%s-%d", base, n)
		}
		seen[p.SPDXID] = true
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{Element: main.SPDXID, Type: "DEPENDS_ON", Related: p.SPDXID})
	}
	// The namespace names the content: hash the document without it.
	unnamed, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding the SBOM: %w", err)
	}
	sum := sha256.Sum256(unnamed)
	doc.DocumentNamespace = fmt.Sprintf("%s/spdx/%s/%s-%s", Source, img.Name, meta.Version, hex.EncodeToString(sum[:]))
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the SBOM: %w", err)
	}
	return append(out, '\n'), nil
}

// spdxModule describes one Go module; a replaced module is described by
// its replacement, which is what was compiled.
func spdxModule(m debug.Module, purpose string) spdxPackage {
	comment := ""
	if m.Replace != nil {
		comment = "replaces " + m.Path + " " + m.Version
		m = *m.Replace
	}
	p := spdxPackage{
		Name:             m.Path,
		SPDXID:           spdxID(m.Path),
		VersionInfo:      m.Version,
		Supplier:         "NOASSERTION",
		DownloadLocation: "NOASSERTION",
		PrimaryPurpose:   purpose,
		Comment:          comment,
	}
	if m.Version != "" && m.Version != "(devel)" {
		p.ExternalRefs = []spdxExternalRef{purl(m.Path, m.Version)}
	}
	// go.sum's h1: is the SHA-256 of the module's file list, base64.
	if h, ok := strings.CutPrefix(m.Sum, "h1:"); ok {
		if raw, err := base64.StdEncoding.DecodeString(h); err == nil {
			p.Checksums = []spdxChecksum{{Algorithm: "SHA256", Value: hex.EncodeToString(raw)}}
		}
	}
	return p
}

// spdxID makes an SPDX identifier (letters, digits, '.' and '-') from a
// module path.
func spdxID(path string) string {
	return "SPDXRef-Package-" + strings.Trim(notIDChar.ReplaceAllString(path, "-"), "-")
}

var notIDChar = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// purl is the package URL of a Go module (or of the Go standard library).
func purl(path, version string) spdxExternalRef {
	return spdxExternalRef{Category: "PACKAGE-MANAGER", Type: "purl", Locator: "pkg:golang/" + path + "@" + version}
}

// buildSettings lists the settings the binary was built with, sorted.
func buildSettings(settings []debug.BuildSetting) string {
	var kv []string
	for _, s := range settings {
		kv = append(kv, s.Key+"="+s.Value)
	}
	slices.Sort(kv)
	return strings.Join(kv, " ")
}
