package ociimage

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The SBOM in each image is SPDX 2.3 JSON listing the main module at the
// build's version and the modules linked in (CoreDNS for coredns), dated at
// the build's time, with a namespace derived from its content.
func TestSBOM(t *testing.T) {
	for _, img := range Images {
		t.Run(img.Name, func(t *testing.T) {
			b, err := ReadSBOM(testIndexes(t)[img.Name], testPlatform)
			if err != nil {
				t.Fatal(err)
			}
			var doc spdxDocument
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("the SBOM is not the SPDX JSON we write: %v", err)
			}
			if doc.SPDXVersion != "SPDX-2.3" || doc.DataLicense != "CC0-1.0" || doc.SPDXID != "SPDXRef-DOCUMENT" {
				t.Errorf("header: %s %s %s, want SPDX-2.3 CC0-1.0 SPDXRef-DOCUMENT", doc.SPDXVersion, doc.DataLicense, doc.SPDXID)
			}
			if doc.CreationInfo.Created != testMeta.Created.Format(time.RFC3339) {
				t.Errorf("created %s, want the build's time %s", doc.CreationInfo.Created, testMeta.Created.Format(time.RFC3339))
			}
			if !strings.HasPrefix(doc.DocumentNamespace, Source+"/spdx/"+img.Name+"/"+testVersion+"-") {
				t.Errorf("documentNamespace %s does not name the image and version", doc.DocumentNamespace)
			}
			versions := map[string]string{}
			for _, p := range doc.Packages {
				versions[p.Name] = p.VersionInfo
			}
			wantMods := map[string]string{"github.com/egressgate/egressgate": testVersion, "stdlib": "go"}
			if img.Name == "coredns" {
				wantMods["github.com/coredns/coredns"] = "v1.15.0"
			} else {
				wantMods["sigs.k8s.io/controller-runtime"] = "v"
			}
			for mod, prefix := range wantMods {
				if v, ok := versions[mod]; !ok || !strings.HasPrefix(v, prefix) {
					t.Errorf("package %s: version %q (listed: %v), want %s...", mod, v, ok, prefix)
				}
			}
			if n := len(doc.Relationships); n != len(doc.Packages) {
				t.Errorf("%d relationships for %d packages: want DESCRIBES for the main module and DEPENDS_ON for each other", n, len(doc.Packages))
			}
			again, err := SBOM(img, testMeta, testBinaries[img.Name].Path)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(b) {
				t.Errorf("two SBOMs of the same binary differ")
			}
		})
	}
}
