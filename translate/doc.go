// Package translate turns an ExternalService, the operator's options and the
// facts the controller observed into the objects that should exist and the
// conditions that explain them. It is the pure middle of the data flow:
// no client, no context, no clock. The controller and `egressctl translate`
// both call it, so what the CLI prints is what the controller applies.
package translate
