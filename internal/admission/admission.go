// Package admission admits ExternalServices offline the way the API server
// does: the CRD's defaults, its OpenAPI schema and its CEL rules, run with
// the API server's own libraries (k8s.io/apiextensions-apiserver) on the CRD
// in crds/. egressctl uses it so that a file it accepts is one the cluster
// accepts too.
package admission

import (
	"context"
	"fmt"
	"math"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/crds"
)

// Admitter defaults and validates ExternalServices.
type Admitter struct {
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// New builds an Admitter from the CRD compiled into the binary.
func New() (*Admitter, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(crds.ExternalServices, crd); err != nil {
		return nil, fmt.Errorf("read the ExternalService CRD: %w", err)
	}
	var version *apiextensionsv1.CustomResourceDefinitionVersion
	for i := range crd.Spec.Versions {
		if crd.Spec.Versions[i].Name == egressv1.GroupVersion.Version {
			version = &crd.Spec.Versions[i]
		}
	}
	if version == nil || version.Schema == nil {
		return nil, fmt.Errorf("the ExternalService CRD has no %s schema", egressv1.GroupVersion.Version)
	}
	internal := &apiextensions.CustomResourceValidation{}
	if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(version.Schema, internal, nil); err != nil {
		return nil, fmt.Errorf("convert the ExternalService schema: %w", err)
	}
	structural, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, fmt.Errorf("the ExternalService schema is not structural: %w", err)
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, fmt.Errorf("build the ExternalService schema validator: %w", err)
	}
	return &Admitter{
		structural: structural,
		schema:     validator,
		cel:        cel.NewValidator(structural, true, celconfig.PerCallLimit),
	}, nil
}

// Admit applies the CRD's defaults to obj (a decoded ExternalService) in
// place and returns every violation of its schema and CEL rules, in the
// words the API server would use, or nil.
//
// Whole numbers decoded as float64 (encoding/json, sigs.k8s.io/yaml) are
// turned into int64 first, as the API server's decoder does; CEL tells the
// two apart.
func (a *Admitter) Admit(ctx context.Context, obj map[string]any) field.ErrorList {
	wholeNumbersToInt64(obj)
	structuraldefaulting.Default(obj, a.structural)
	errs := apiservervalidation.ValidateCustomResource(nil, obj, a.schema)
	celErrs, _ := a.cel.Validate(ctx, nil, a.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

func wholeNumbersToInt64(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = wholeNumbersToInt64(e)
		}
	case []any:
		for i, e := range x {
			x[i] = wholeNumbersToInt64(e)
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
	}
	return v
}
