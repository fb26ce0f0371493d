package dnsplugin

// Ready implements the ready plugin's Readiness interface: the plugin is
// ready once its table was built from a complete list of ExternalServices
// and gateway pods. It stays ready if the API server later goes away, since
// the last table keeps being served.
func (e *Hijacker) Ready() bool { return e.source.HasSynced() }
