package dashboard

// StartEtcd starts a one-member embedded etcd for the external tests
// (startEtcd) and returns its client URL.
var StartEtcd = startEtcd
