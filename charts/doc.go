// Package charts holds egressgate's Helm chart (charts/egressgate) and what
// keeps it honest: the generation of its values and schema from the
// operator's own definition of its options (internal/operatorconfig), the
// copies of the repository's CRD and RBAC it carries (Generate, run by
// `make generate`), and tests that lint it, compare it with config/, and
// install, upgrade and uninstall it on the embedded cluster.
package charts
