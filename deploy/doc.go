// Package deploy holds Firebreak's packaging, not code: the Helm chart
// (helm/firebreak), the systemd unit (systemd), the image build's staging
// script (image; the Dockerfile is at the repository root) and the senders'
// snippets (senders). Its tests check each against the real tool that
// consumes it: helm and a real kube-apiserver, buildah and the image's root
// filesystem, systemd-analyze, amtool, and a real Firebreak server. A test
// whose tool is missing skips with a message, and fails when CI=true.
// Nothing here may be imported by Firebreak's code, and no file here may
// inline a secret: the chart and the unit read them from Secrets and files.
package deploy
