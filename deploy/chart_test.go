// Package deploy_test renders the Helm chart with Helm's Go SDK and checks
// what it would install. It is a package of its own, imported by nothing,
// so Helm and the Kubernetes API types stay out of the gpuperf binary.
package deploy_test

import (
	"fmt"
	"maps"
	"net"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	monv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/gpuperf/gpuperf/coordinator"
)

const (
	chartDir  = "helm/gpuperf"
	release   = "gpuperf"
	namespace = "gpuperf"
	// agentsHost is the headless Service's name for release gpuperf.
	agentsHost = "gpuperf-agents.gpuperf.svc.cluster.local"
)

// valueSets are the installs the tests render: the defaults and the
// variations that change what is made.
var valueSets = []struct{ name, values string }{
	{"default", ``},
	{"cert-manager", `
certManager: {enabled: true}
`},
	{"cert-manager with a cluster issuer", `
certManager: {enabled: true, issuerRef: {name: corp-ca, kind: ClusterIssuer, group: cert-manager.io}}
`},
	{"service monitor, pools, network policy", `
metrics: {serviceMonitor: {enabled: true, labels: {release: kube-prometheus}}}
networkPolicy: {enabled: true}
agent:
  labels: {site: lab-1}
  config:
    backends: [{name: triton, kind: kserve, options: {endpoint: "triton:8001", model: resnet50}}]
  pools:
    - {name: metal, nodeSelector: {node.example.com/pool: metal}, labels: {pool: metal}}
    - {name: vks, nodeSelector: {node.example.com/pool: vks}, labels: {pool: vks}}
coordinator:
  discovery: {baseline: {labels: {pool: metal}}, candidate: {labels: {pool: vks}, gpu: H100}, perSide: 2}
`},
	{"postgres history, secrets of your own", `
tls: {agentSecret: corp-agent-tls, coordinatorSecret: corp-coordinator-tls}
token: {existingSecret: corp-token, create: false}
coordinator:
  history: {enabled: true, existingSecret: gpuperf-history}
  persistence: {existingClaim: nightly-results}
  timeZone: Europe/Berlin
`},
}

// object is one rendered manifest, decoded into its API type.
type object struct {
	source, apiVersion, kind, name string
	obj                            any
}

// newTyped returns an empty value of the API type of apiVersion/kind.
func newTyped(apiVersion, kind string) (any, bool) {
	switch apiVersion + " " + kind {
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "v1 Service":
		return &corev1.Service{}, true
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1 Secret":
		return &corev1.Secret{}, true
	case "v1 PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, true
	case "apps/v1 DaemonSet":
		return &appsv1.DaemonSet{}, true
	case "batch/v1 CronJob":
		return &batchv1.CronJob{}, true
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, true
	case "cert-manager.io/v1 Certificate":
		return &cmv1.Certificate{}, true
	case "cert-manager.io/v1 Issuer":
		return &cmv1.Issuer{}, true
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &monv1.ServiceMonitor{}, true
	}
	return nil, false
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// render renders the chart with values (YAML) as `helm template` would,
// and decodes every manifest strictly: a field the API type does not have,
// a key given twice, or a kind the test does not know is an error.
func render(t *testing.T, values string) []object {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{}
	if err := yaml.Unmarshal([]byte(values), &vals); err != nil {
		t.Fatal(err)
	}
	rv, err := util.ToRenderValuesWithSchemaValidation(chrt, vals,
		common.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(chrt, rv)
	if err != nil {
		t.Fatal(err)
	}
	var out []object
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if path.Base(name) == "NOTES.txt" {
			continue
		}
		for i, doc := range docSeparator.Split(files[name], -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			source := fmt.Sprintf("%s#%d", name, i)
			js, err := yaml.YAMLToJSONStrict([]byte(doc))
			if err != nil {
				t.Errorf("%s: %v\n%s", source, err, doc)
				continue
			}
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, &head); err != nil {
				t.Errorf("%s: %v", source, err)
				continue
			}
			typed, ok := newTyped(head.APIVersion, head.Kind)
			if !ok {
				t.Errorf("%s: %s %s is not a kind this test decodes", source, head.APIVersion, head.Kind)
				continue
			}
			strict, err := sigsjson.UnmarshalStrict(js, typed)
			if err != nil {
				t.Errorf("%s: %v", source, err)
				continue
			}
			for _, e := range strict {
				t.Errorf("%s (%s %s): %v", source, head.Kind, head.Metadata.Name, e)
			}
			out = append(out, object{source, head.APIVersion, head.Kind, head.Metadata.Name, typed})
		}
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// all returns the objects of type T.
func all[T any](objs []object) []*T {
	var out []*T
	for _, o := range objs {
		if v, ok := o.obj.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

func TestChartRendersStrictly(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			objs := render(t, vs.values)
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.kind)
				checkMetadata(t, o)
			}
			sort.Strings(kinds)
			t.Logf("%d objects: %s", len(objs), strings.Join(kinds, " "))
			if len(all[appsv1.DaemonSet](objs)) == 0 || len(all[corev1.Service](objs)) != 1 {
				t.Fatalf("no agents or no Service: %s", kinds)
			}
			checkAgents(t, vs.name, objs)
			checkCoordinator(t, vs.name, objs)
			checkPodSpecs(t, objs)
			checkCertificates(t, vs.name, objs)
			checkMonitoring(t, vs.name, objs)
		})
	}
}

// checkMetadata: names, namespaces and labels the API server would accept.
func checkMetadata(t *testing.T, o object) {
	t.Helper()
	type meta interface {
		GetName() string
		GetNamespace() string
		GetLabels() map[string]string
	}
	m, ok := o.obj.(meta)
	if !ok {
		t.Errorf("%s: no metadata", o.source)
		return
	}
	for _, e := range validation.IsDNS1123Subdomain(m.GetName()) {
		t.Errorf("%s: name %q: %s", o.source, m.GetName(), e)
	}
	if m.GetNamespace() != namespace {
		t.Errorf("%s: namespace %q, want the release's", o.source, m.GetNamespace())
	}
	for k, v := range m.GetLabels() {
		for _, e := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
			t.Errorf("%s: label %s=%s: %s", o.source, k, v, e)
		}
	}
}

// flagValue returns --name's value in args, and whether it is there.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

// checkAgents: the DaemonSets run on GPU nodes, serve gRPC only with
// mutual TLS and a token, probe the health service on loopback, and the
// headless Service selects them.
func checkAgents(t *testing.T, set string, objs []object) {
	t.Helper()
	svc := all[corev1.Service](objs)[0]
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || svc.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: clusterIP %q publishNotReady %v; want headless over ready agents", svc.Name, svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses)
	}
	if svc.Name+"."+namespace+".svc.cluster.local" != agentsHost {
		t.Errorf("Service %s is not %s", svc.Name, agentsHost)
	}
	for _, ds := range all[appsv1.DaemonSet](objs) {
		pod := ds.Spec.Template
		for k, v := range svc.Spec.Selector {
			if pod.Labels[k] != v {
				t.Errorf("DaemonSet %s: pods lack the Service's label %s=%s", ds.Name, k, v)
			}
		}
		for k, v := range ds.Spec.Selector.MatchLabels {
			if pod.Labels[k] != v {
				t.Errorf("DaemonSet %s: selector %s=%s does not select its pods", ds.Name, k, v)
			}
		}
		spec := pod.Spec
		if spec.NodeSelector["nvidia.com/gpu.present"] != "true" {
			t.Errorf("DaemonSet %s: nodeSelector %v lacks GPU feature discovery's nvidia.com/gpu.present", ds.Name, spec.NodeSelector)
		}
		if !slices.ContainsFunc(spec.Tolerations, func(tl corev1.Toleration) bool { return tl.Key == "nvidia.com/gpu" }) {
			t.Errorf("DaemonSet %s: no toleration of nvidia.com/gpu taints", ds.Name)
		}
		if spec.RuntimeClassName == nil || *spec.RuntimeClassName != "nvidia" {
			t.Errorf("DaemonSet %s: runtimeClassName %v, want nvidia (how dcgm-exporter gets the driver)", ds.Name, spec.RuntimeClassName)
		}
		c := container(t, spec, "agent")
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		if env["NVIDIA_VISIBLE_DEVICES"].Value != "all" || env["NVIDIA_DRIVER_CAPABILITIES"].Value == "" {
			t.Errorf("DaemonSet %s: NVIDIA_* env %v", ds.Name, c.Env)
		}
		if r := env["NODE_NAME"].ValueFrom; r == nil || r.FieldRef == nil || r.FieldRef.FieldPath != "spec.nodeName" {
			t.Errorf("DaemonSet %s: NODE_NAME not from the downward API", ds.Name)
		}
		if _, ok := c.Resources.Limits[corev1.ResourceName("nvidia.com/gpu")]; ok {
			t.Errorf("DaemonSet %s: takes a GPU from the scheduler; the workloads it measures need them", ds.Name)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("DaemonSet %s: resources %v", ds.Name, c.Resources)
		}
		if !c.Resources.Limits.Cpu().IsZero() {
			t.Errorf("DaemonSet %s: a CPU limit would throttle the load generator", ds.Name)
		}

		// No plaintext agent port: TLS with client certificates and a
		// token on the gRPC port, plaintext only for health on loopback.
		args := c.Args
		if len(args) == 0 || args[0] != "agent" {
			t.Fatalf("DaemonSet %s: args %q", ds.Name, args)
		}
		for _, f := range []string{"listen", "tls-cert", "tls-key", "tls-client-ca", "token-file", "health-listen", "label-file"} {
			if v, ok := flagValue(args, f); !ok || v == "" {
				t.Errorf("DaemonSet %s: no --%s", ds.Name, f)
			}
		}
		if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--insecure") }) {
			t.Errorf("DaemonSet %s: --insecure", ds.Name)
		}
		health, _ := flagValue(args, "health-listen")
		if h, _, err := net.SplitHostPort(health); err != nil || !net.ParseIP(h).IsLoopback() {
			t.Errorf("DaemonSet %s: --health-listen=%s is not loopback", ds.Name, health)
		}
		if !slices.Contains(args, "--label=kubernetes.io/hostname=$(NODE_NAME)") {
			t.Errorf("DaemonSet %s: the node's name is not a label: %q", ds.Name, args)
		}
		listen, _ := flagValue(args, "listen")
		_, grpcPort, _ := net.SplitHostPort(listen)
		metrics, _ := flagValue(args, "metrics-listen")
		_, metricsPort, _ := net.SplitHostPort(metrics)
		for _, p := range c.Ports {
			switch fmt.Sprint(p.ContainerPort) {
			case grpcPort:
				if p.Name != "grpc" {
					t.Errorf("DaemonSet %s: port %d named %q", ds.Name, p.ContainerPort, p.Name)
				}
			case metricsPort:
			default:
				t.Errorf("DaemonSet %s: port %d is neither the TLS gRPC port nor metrics", ds.Name, p.ContainerPort)
			}
		}
		for _, sp := range svc.Spec.Ports {
			if sp.Name == "grpc" && sp.TargetPort.String() != "grpc" {
				t.Errorf("Service port grpc targets %s", sp.TargetPort.String())
			}
		}
		for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			want := []string{"/usr/local/bin/gpuperf", "health", health}
			if p == nil || p.Exec == nil || !slices.Equal(p.Exec.Command, want) {
				t.Errorf("DaemonSet %s: %s probe %+v, want exec %q", ds.Name, name, p, want)
			} else if p.PeriodSeconds == 0 || p.TimeoutSeconds == 0 {
				t.Errorf("DaemonSet %s: %s probe timing %+v", ds.Name, name, p)
			}
		}
		// The TLS and token files the flags name come from the Secrets.
		mounts := mountSources(spec, c)
		for _, f := range []string{"tls-cert", "tls-key", "tls-client-ca", "token-file"} {
			v, _ := flagValue(args, f)
			if src := mounts[path.Dir(v)]; src.Secret == nil {
				t.Errorf("DaemonSet %s: --%s=%s is not in a Secret volume", ds.Name, f, v)
			} else if f == "token-file" && !slices.ContainsFunc(src.Secret.Items, func(k corev1.KeyToPath) bool { return k.Key == "token" && k.Path == path.Base(v) }) {
				t.Errorf("DaemonSet %s: token Secret items %v do not give %s", ds.Name, src.Secret.Items, v)
			}
		}
		if v, _ := flagValue(args, "label-file"); mounts[path.Dir(v)].DownwardAPI == nil {
			t.Errorf("DaemonSet %s: --label-file=%s is not the downward API's", ds.Name, v)
		}
		if set == "service monitor, pools, network policy" {
			pool := strings.TrimPrefix(ds.Name, "gpuperf-agent-")
			if !slices.Contains(args, "--label=pool="+pool) || !slices.Contains(args, "--label=site=lab-1") || spec.NodeSelector["node.example.com/pool"] != pool {
				t.Errorf("DaemonSet %s: pool labels and node selector: %q %v", ds.Name, args, spec.NodeSelector)
			}
			if v, ok := flagValue(args, "config"); !ok || mounts[path.Dir(v)].ConfigMap == nil {
				t.Errorf("DaemonSet %s: --config=%s not from the ConfigMap", ds.Name, v)
			}
		}
	}
	if set == "service monitor, pools, network policy" && len(all[appsv1.DaemonSet](objs)) != 2 {
		t.Errorf("%d DaemonSets for two pools", len(all[appsv1.DaemonSet](objs)))
	}
}

// mountSources maps each of c's mount paths to its volume's source.
func mountSources(spec corev1.PodSpec, c corev1.Container) map[string]corev1.VolumeSource {
	vols := map[string]corev1.VolumeSource{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v.VolumeSource
	}
	out := map[string]corev1.VolumeSource{}
	for _, m := range c.VolumeMounts {
		out[m.MountPath] = vols[m.Name]
	}
	return out
}

// podSpecs returns every pod template, named.
func podSpecs(objs []object) map[string]corev1.PodSpec {
	out := map[string]corev1.PodSpec{}
	for _, ds := range all[appsv1.DaemonSet](objs) {
		out["DaemonSet "+ds.Name] = ds.Spec.Template.Spec
	}
	for _, cj := range all[batchv1.CronJob](objs) {
		out["CronJob "+cj.Name] = cj.Spec.JobTemplate.Spec.Template.Spec
	}
	return out
}

// checkPodSpecs: every pod runs non-root with a read-only root, no
// privileges, none of the host's namespaces, its Secrets (and every other
// configuration) mounted read-only, and no Kubernetes API token.
func checkPodSpecs(t *testing.T, objs []object) {
	t.Helper()
	for name, spec := range podSpecs(objs) {
		if spec.HostPID || spec.HostNetwork || spec.HostIPC {
			t.Errorf("%s: host namespaces (pid %v, network %v, ipc %v)", name, spec.HostPID, spec.HostNetwork, spec.HostIPC)
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s: mounts a service account token it does not use", name)
		}
		psc := spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
			psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod securityContext %+v", name, psc)
		}
		vols := map[string]corev1.VolumeSource{}
		for _, v := range spec.Volumes {
			vols[v.Name] = v.VolumeSource
		}
		for _, c := range spec.Containers {
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				(sc.Privileged != nil && *sc.Privileged) || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") ||
				len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s/%s: securityContext %+v", name, c.Name, sc)
			}
			for _, m := range c.VolumeMounts {
				src, ok := vols[m.Name]
				if !ok {
					t.Errorf("%s/%s: mount of undeclared volume %s", name, c.Name, m.Name)
					continue
				}
				if (src.Secret != nil || src.ConfigMap != nil || src.DownwardAPI != nil || src.Projected != nil) && !m.ReadOnly {
					t.Errorf("%s/%s: %s (%s) is mounted writable", name, c.Name, m.Name, m.MountPath)
				}
				if src.Secret != nil && (src.Secret.DefaultMode == nil || *src.Secret.DefaultMode&0o007 != 0) {
					t.Errorf("%s/%s: Secret %s is readable by others (mode %v)", name, c.Name, src.Secret.SecretName, src.Secret.DefaultMode)
				}
			}
		}
	}
}

// checkCoordinator: a nightly CronJob whose exit code is the gate's,
// running the plan from its ConfigMap (a plan gpuperf accepts, its sides
// discovered through the headless Service with the mounted TLS files and
// token), results on the claim, history from the Secret.
func checkCoordinator(t *testing.T, set string, objs []object) {
	t.Helper()
	cjs := all[batchv1.CronJob](objs)
	if len(cjs) != 1 {
		t.Fatalf("%d CronJobs", len(cjs))
	}
	cj := cjs[0]
	if len(strings.Fields(cj.Spec.Schedule)) != 5 || cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("CronJob schedule %q concurrency %s", cj.Spec.Schedule, cj.Spec.ConcurrencyPolicy)
	}
	job := cj.Spec.JobTemplate.Spec
	if job.BackoffLimit == nil || *job.BackoffLimit != 0 || job.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("a failed comparison is retried: backoffLimit %v restartPolicy %s", job.BackoffLimit, job.Template.Spec.RestartPolicy)
	}
	spec := job.Template.Spec
	c := container(t, spec, "coordinator")
	if len(c.Args) == 0 || c.Args[0] != "compare" {
		t.Fatalf("coordinator args %q", c.Args)
	}
	if g, _ := flagValue(c.Args, "gate"); g != "regression" {
		t.Errorf("--gate=%s", g)
	}
	mounts := mountSources(spec, c)
	planPath, _ := flagValue(c.Args, "plan")
	cmSrc := mounts[path.Dir(planPath)].ConfigMap
	if cmSrc == nil {
		t.Fatalf("--plan=%s is not in a ConfigMap volume", planPath)
	}
	var planYAML string
	for _, cm := range all[corev1.ConfigMap](objs) {
		if cm.Name == cmSrc.Name {
			planYAML = cm.Data[path.Base(planPath)]
		}
	}
	if planYAML == "" {
		t.Fatalf("ConfigMap %s has no %s", cmSrc.Name, path.Base(planPath))
	}
	p, err := coordinator.ParsePlan("plan.yaml", []byte(planYAML))
	if err != nil {
		t.Fatalf("the plan's ConfigMap: %v\n%s", err, planYAML)
	}
	d := p.Discovery
	if d == nil || d.Target != "dns:///"+agentsHost+":7070" {
		t.Fatalf("plan discovery %+v, want the headless Service", d)
	}
	if d.TLS == nil || mounts[path.Dir(d.TLS.Cert)].Secret == nil || mounts[path.Dir(d.TLS.CA)].Secret == nil ||
		mounts[path.Dir(d.TokenFile)].Secret == nil {
		t.Errorf("plan credentials %+v / %s are not the mounted Secrets", d.TLS, d.TokenFile)
	}
	if src := mounts[p.Output]; src.PersistentVolumeClaim == nil && src.EmptyDir == nil {
		t.Errorf("output %s is not on a volume", p.Output)
	} else if src.PersistentVolumeClaim != nil {
		claim := src.PersistentVolumeClaim.ClaimName
		made := slices.ContainsFunc(all[corev1.PersistentVolumeClaim](objs), func(pvc *corev1.PersistentVolumeClaim) bool { return pvc.Name == claim })
		if set == "postgres history, secrets of your own" {
			if claim != "nightly-results" || made {
				t.Errorf("existing claim: mounts %s, made one %v", claim, made)
			}
		} else if !made {
			t.Errorf("claim %s is not made", claim)
		}
	}
	// The plan gpuperf would run: valid once its files exist.
	if err := validateAt(t, planYAML); err != nil {
		t.Errorf("the plan is not valid: %v\n%s", err, planYAML)
	}
	var store *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "GPUPERF_STORE" {
			store = &c.Env[i]
		}
	}
	if set == "postgres history, secrets of your own" {
		if store == nil || store.ValueFrom == nil || store.ValueFrom.SecretKeyRef == nil ||
			store.ValueFrom.SecretKeyRef.Name != "gpuperf-history" || store.ValueFrom.SecretKeyRef.Key != "url" {
			t.Errorf("GPUPERF_STORE %+v, want the history Secret's url", store)
		}
		if cj.Spec.TimeZone == nil || *cj.Spec.TimeZone != "Europe/Berlin" {
			t.Errorf("timeZone %v", cj.Spec.TimeZone)
		}
		if mounts[path.Dir(d.TLS.Cert)].Secret.SecretName != "corp-coordinator-tls" || mounts[path.Dir(d.TokenFile)].Secret.SecretName != "corp-token" {
			t.Errorf("coordinator Secrets %+v", mounts)
		}
		if len(all[corev1.Secret](objs)) != 0 {
			t.Errorf("a token Secret is made though one was given")
		}
	} else if store != nil {
		t.Errorf("GPUPERF_STORE without history: %+v", store)
	}
	if set == "service monitor, pools, network policy" {
		if d.PerSide != 2 || d.Candidate.GPU != "H100" || d.Baseline.Labels["pool"] != "metal" {
			t.Errorf("discovery values %+v %+v %+v", d, d.Baseline, d.Candidate)
		}
	}
}

// validateAt validates the plan as gpuperf would, with the files it names
// present in a scratch folder standing for the container's /etc/gpuperf.
func validateAt(t *testing.T, planYAML string) error {
	t.Helper()
	dir := t.TempDir()
	text := strings.ReplaceAll(planYAML, "/etc/gpuperf/", dir+"/")
	text = strings.ReplaceAll(text, "/var/lib/gpuperf/results", dir+"/results")
	for _, f := range []string{"tls/tls.crt", "tls/tls.key", "tls/ca.crt", "token/token"} {
		writeFile(t, dir, f, "x")
	}
	p, err := coordinator.ParsePlan(dir+"/plan.yaml", []byte(text))
	if err != nil {
		return err
	}
	return p.Validate()
}

// checkCertificates: with cert-manager, the Certificates write the
// Secrets the pods mount, name the Service the coordinator dials, and are
// for serving (agents) and for clients (coordinator).
func checkCertificates(t *testing.T, set string, objs []object) {
	t.Helper()
	certs := all[cmv1.Certificate](objs)
	if !strings.HasPrefix(set, "cert-manager") {
		if len(certs) != 0 || len(all[cmv1.Issuer](objs)) != 0 {
			t.Errorf("cert-manager objects without certManager.enabled")
		}
		return
	}
	bySecret := map[string]*cmv1.Certificate{}
	for _, c := range certs {
		bySecret[c.Spec.SecretName] = c
	}
	for name, spec := range podSpecs(objs) {
		for _, v := range spec.Volumes {
			if v.Secret != nil && strings.HasSuffix(v.Secret.SecretName, "-tls") && bySecret[v.Secret.SecretName] == nil {
				t.Errorf("%s mounts %s, which no Certificate writes", name, v.Secret.SecretName)
			}
		}
	}
	agent, coord := bySecret["gpuperf-agent-tls"], bySecret["gpuperf-coordinator-tls"]
	if agent == nil || coord == nil {
		t.Fatalf("Certificates for %v", slices.Collect(maps.Keys(bySecret)))
	}
	if !slices.Contains(agent.Spec.DNSNames, agentsHost) || !slices.Contains(agent.Spec.Usages, cmv1.UsageServerAuth) {
		t.Errorf("agent Certificate names %v usages %v", agent.Spec.DNSNames, agent.Spec.Usages)
	}
	if !slices.Contains(coord.Spec.Usages, cmv1.UsageClientAuth) {
		t.Errorf("coordinator Certificate usages %v", coord.Spec.Usages)
	}
	issuers := all[cmv1.Issuer](objs)
	if set == "cert-manager with a cluster issuer" {
		if len(issuers) != 0 || agent.Spec.IssuerRef.Name != "corp-ca" || agent.Spec.IssuerRef.Kind != "ClusterIssuer" {
			t.Errorf("issuer %+v, %d Issuers made", agent.Spec.IssuerRef, len(issuers))
		}
		return
	}
	// A CA of the release's own signs both, so each trusts the other's.
	if agent.Spec.IssuerRef != coord.Spec.IssuerRef || !slices.ContainsFunc(issuers, func(i *cmv1.Issuer) bool {
		return i.Name == agent.Spec.IssuerRef.Name && i.Spec.CA != nil
	}) {
		t.Errorf("issuers %+v / %+v", agent.Spec.IssuerRef, coord.Spec.IssuerRef)
	}
}

// checkMonitoring: the ServiceMonitor scrapes the Service's metrics port;
// the NetworkPolicy admits only the coordinator to gRPC.
func checkMonitoring(t *testing.T, set string, objs []object) {
	t.Helper()
	sms := all[monv1.ServiceMonitor](objs)
	nps := all[networkingv1.NetworkPolicy](objs)
	if set != "service monitor, pools, network policy" {
		if len(sms)+len(nps) != 0 {
			t.Errorf("a ServiceMonitor or NetworkPolicy by default")
		}
		return
	}
	svc := all[corev1.Service](objs)[0]
	if len(sms) != 1 {
		t.Fatalf("%d ServiceMonitors", len(sms))
	}
	sm := sms[0]
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s; the Service has %v", k, v, svc.Labels)
		}
	}
	if sm.Labels["release"] != "kube-prometheus" {
		t.Errorf("ServiceMonitor labels %v", sm.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == sm.Spec.Endpoints[0].Port }) {
		t.Errorf("ServiceMonitor endpoints %+v, Service ports %+v", sm.Spec.Endpoints, svc.Spec.Ports)
	}
	if len(nps) != 1 || len(nps[0].Spec.Ingress) == 0 || nps[0].Spec.Ingress[0].From[0].PodSelector.MatchLabels["app.kubernetes.io/component"] != "coordinator" {
		t.Errorf("NetworkPolicy %+v", nps)
	}
}

// TestChartLints runs helm lint (the SDK's lint package: the same rules)
// on every value set: no warnings, no errors.
func TestChartLints(t *testing.T) {
	for _, vs := range valueSets {
		vals := map[string]any{}
		if err := yaml.Unmarshal([]byte(vs.values), &vals); err != nil {
			t.Fatal(err)
		}
		res := lint.RunAll(chartDir, vals, namespace)
		for _, m := range res.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("%s: %s", vs.name, m)
			} else {
				t.Logf("%s: %s", vs.name, m)
			}
		}
	}
}

// TestChartRefusesIncompleteValues: values that cannot work fail the
// render with a message naming the value.
func TestChartRefusesIncompleteValues(t *testing.T) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	for values, want := range map[string]string{
		`coordinator: {history: {enabled: true}}`:                                       "coordinator.history.existingSecret",
		`agent: {pools: [{name: a, nodeSelector: {x: "1"}}, {nodeSelector: {y: "1"}}]}`: "agent.pools[1].name",
	} {
		vals := map[string]any{}
		if err := yaml.Unmarshal([]byte(values), &vals); err != nil {
			t.Fatal(err)
		}
		rv, err := util.ToRenderValuesWithSchemaValidation(chrt, vals, common.ReleaseOptions{Name: release, Namespace: namespace, IsInstall: true}, nil, false)
		if err == nil {
			_, err = engine.Render(chrt, rv)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want an error naming %s", values, err, want)
		}
	}
}
