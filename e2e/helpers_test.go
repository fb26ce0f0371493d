package e2e

import (
	"go.uber.org/zap/zapcore"
	networkingv1 "k8s.io/api/networking/v1"
)

type networkingPolicy = networkingv1.NetworkPolicy

const zapLevelError = zapcore.ErrorLevel
