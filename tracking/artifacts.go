package tracking

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow"
	"github.com/otelcol-mlflow/otelcol-mlflow/internal/mlflow/restclient"
)

// Tags MLflow's UI reads for models and images.
const (
	modelHistoryTag = "mlflow.log-model.history"
	loggedImagesTag = "mlflow.loggedImages"
	plotsDir        = "plots"
	imagesDir       = "images"
	mlmodelFile     = "MLmodel"
)

func (r *Run) artifactStore() (mlflow.ArtifactStore, error) {
	if r.t.artifacts == nil {
		return nil, errors.New("tracking: no artifact store configured")
	}
	return r.t.artifacts, nil
}

// LogArtifact uploads a local file to <artifactDir>/<file name>, or the
// contents of a local directory under artifactDir ("" is the run's
// artifact root). Every file is attempted; the error lists each one that
// failed after the store's retries.
func (r *Run) LogArtifact(ctx context.Context, localPath, artifactDir string) error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	if _, err := r.upload(ctx, &r.info, localPath, strings.Trim(artifactDir, "/")); err != nil {
		return fmt.Errorf("tracking: log artifact %s: %w", localPath, err)
	}
	return nil
}

// LogArtifactBytes uploads data as the artifact at artifactPath.
func (r *Run) LogArtifactBytes(ctx context.Context, data []byte, artifactPath string) error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	return r.uploadBytes(ctx, &r.info, data, artifactPath)
}

// uploadBytes writes data to artifactPath under to's artifact URI (the
// run's, or an MLflow 3 logged model's).
func (r *Run) uploadBytes(ctx context.Context, to *mlflow.RunInfo, data []byte, artifactPath string) error {
	a, err := r.artifactStore()
	if err != nil {
		return err
	}
	if err := a.UploadArtifact(ctx, to, artifactPath, mlflow.BytesSource(data)); err != nil {
		return fmt.Errorf("tracking: log artifact %s: %w", artifactPath, err)
	}
	return nil
}

// upload sends a file or a directory tree under to's artifact URI and
// returns the artifact paths written.
func (r *Run) upload(ctx context.Context, to *mlflow.RunInfo, localPath, artifactDir string) ([]string, error) {
	a, err := r.artifactStore()
	if err != nil {
		return nil, err
	}
	if artifactDir != "" {
		if err := mlflow.ValidateArtifactPath(artifactDir); err != nil {
			return nil, err
		}
	}
	fi, err := os.Stat(localPath)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		dst := mlflow.JoinArtifactPath(artifactDir, filepath.Base(localPath))
		src, err := mlflow.FileSource(localPath)
		if err != nil {
			return nil, err
		}
		if err := a.UploadArtifact(ctx, to, dst, src); err != nil {
			return nil, err
		}
		return []string{dst}, nil
	}
	var done []string
	var errs []error
	walkErr := filepath.WalkDir(localPath, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(localPath, p)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		dst := mlflow.JoinArtifactPath(artifactDir, filepath.ToSlash(rel))
		// FileSource follows a symlink to a file and refuses anything that
		// is not a regular file, so a link to a directory is reported, not
		// silently skipped.
		src, err := mlflow.FileSource(p)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if err := a.UploadArtifact(ctx, to, dst, src); err != nil {
			errs = append(errs, err)
			return nil
		}
		done = append(done, dst)
		return nil
	})
	if walkErr != nil {
		errs = append(errs, walkErr)
	}
	return done, errors.Join(errs...)
}

// ModelOption configures LogModel.
type ModelOption func(*modelOptions)

type modelOptions struct {
	register     string
	description  string
	flavor       string
	flavorFields map[string]any
}

// RegisterAs registers the logged model as a new version of the registered
// model name (created when absent) in the model registry.
func RegisterAs(name string) ModelOption { return func(o *modelOptions) { o.register = name } }

// ModelDescription describes the registered model version.
func ModelDescription(s string) ModelOption { return func(o *modelOptions) { o.description = s } }

// Flavor names the MLmodel flavor LogModel writes (default "go", with the
// model's files as data) and its fields.
func Flavor(name string, fields map[string]any) ModelOption {
	return func(o *modelOptions) { o.flavor, o.flavorFields = name, fields }
}

// ModelInfo describes a logged model.
type ModelInfo struct {
	ArtifactPath string // <name>
	// ModelURI is what MLflow loads the model by: models:/<model id> on an
	// MLflow 3 server, runs:/<run id>/<name> before.
	ModelURI string
	// Source is what the registry records: models:/<model id> on MLflow 3,
	// the run's artifact URI + /<name> before.
	Source string
	// ModelID is the MLflow 3 logged model's id ("m-..."), "" on servers
	// before 3.0.
	ModelID string
	// ArtifactURI is where Files lie: the logged model's artifact URI on
	// MLflow 3 (<experiment>/models/<model id>/artifacts), the run's
	// artifact URI + /<name> before.
	ArtifactURI string
	UUID        string   // model_uuid in MLmodel (the model id on MLflow 3)
	Files       []string // artifact paths uploaded, MLmodel included
	// Version is the registered version, nil without RegisterAs.
	Version *ModelVersion
}

// ModelVersion is a version of a registered model, as the model registry
// created it.
type ModelVersion struct {
	Name    string // the registered model's name
	Version string // "1", "2", ...
	Source  string
	RunID   string
	// Status is READY, or PENDING_REGISTRATION while the server copies the
	// files.
	Status       string
	CurrentStage string
	Description  string
	// CreationTimestamp is milliseconds since the Unix epoch.
	CreationTimestamp int64
	Tags              map[string]string
	// ModelID is the MLflow 3 logged model the version was made from, when
	// the server reports it.
	ModelID string
}

func newModelVersion(v *restclient.ModelVersion) *ModelVersion {
	if v == nil {
		return nil
	}
	var tags map[string]string
	if len(v.Tags) > 0 {
		tags = make(map[string]string, len(v.Tags))
		for _, t := range v.Tags {
			tags[t.Key] = t.Value
		}
	}
	return &ModelVersion{
		Name: v.Name, Version: v.Version, Source: v.Source, RunID: v.RunID, Status: v.Status,
		CurrentStage: v.CurrentStage, Description: v.Description, CreationTimestamp: v.CreationTimestamp,
		Tags: tags, ModelID: v.ModelID,
	}
}

// mlmodel is the MLmodel descriptor, fields in MLflow's (sorted) order.
type mlmodel struct {
	ArtifactPath   string                    `yaml:"artifact_path" json:"artifact_path"`
	Flavors        map[string]map[string]any `yaml:"flavors" json:"flavors"`
	ModelID        string                    `yaml:"model_id,omitempty" json:"model_id,omitempty"`
	ModelUUID      string                    `yaml:"model_uuid" json:"model_uuid"`
	RunID          string                    `yaml:"run_id" json:"run_id"`
	UTCTimeCreated string                    `yaml:"utc_time_created" json:"utc_time_created"`
}

// loggedModels is the MLflow 3 logged-model API; the REST client has it.
// LogModel uses it when the registry has it and the server answers it.
type loggedModels interface {
	CreateLoggedModel(ctx context.Context, r restclient.CreateLoggedModelRequest) (*restclient.LoggedModel, error)
	FinalizeLoggedModel(ctx context.Context, modelID, status string) (*restclient.LoggedModel, error)
	LogOutputs(ctx context.Context, runID string, models []restclient.ModelOutput) error
}

// LogModel uploads a model file or directory and adds an MLmodel descriptor
// unless the directory has one. With RegisterAs it then registers the model
// as a new version of a registered model (created when absent). A failed
// upload fails the call (after the artifact store's retries) and nothing is
// registered.
//
// On an MLflow 3 server it does what MLflow 3's log_model does: it creates a
// logged model (POST logged-models) named name with the run as its source,
// records it as an output of the run (runs/outputs, which the UI lists),
// uploads the files to the logged model's artifact location, finalizes it
// LOGGED_MODEL_READY (LOGGED_MODEL_UPLOAD_FAILED when an upload failed) and
// registers source models:/<model id> with model_id. Servers before 3.0
// answer logged-models with 404, and then the MLflow 2 way is taken: the
// files go under <name>/ in the run's artifacts, the run's
// mlflow.log-model.history tag records the model, and the registered source
// is the run's artifact URI + /<name>.
func (r *Run) LogModel(ctx context.Context, localPath, name string, opts ...ModelOption) (*ModelInfo, error) {
	if err := r.checkOpen(); err != nil {
		return nil, err
	}
	if err := mlflow.ValidateArtifactPath(name); err != nil {
		return nil, fmt.Errorf("tracking: log model: %w", err)
	}
	o := modelOptions{flavor: "go"}
	for _, opt := range opts {
		opt(&o)
	}
	fi, err := os.Stat(localPath)
	if err != nil {
		return nil, fmt.Errorf("tracking: log model: %w", err)
	}
	if _, err := r.artifactStore(); err != nil {
		return nil, fmt.Errorf("tracking: log model %q: %w", name, err)
	}
	lm, err := r.createLoggedModel(ctx, name)
	if err != nil {
		return nil, err
	}
	info := &ModelInfo{ArtifactPath: name}
	desc := mlmodel{ArtifactPath: name, RunID: r.info.RunID, UTCTimeCreated: r.t.now().UTC().Format("2006-01-02 15:04:05.000000")}
	// to is where the files go; dir is their folder under it.
	to, dir := &r.info, name
	if lm != nil {
		target := r.info
		target.ArtifactURI = lm.ArtifactURI
		to, dir = &target, ""
		info.ModelID = lm.ModelID
		info.ModelURI = "models:/" + lm.ModelID
		info.Source = info.ModelURI
		info.ArtifactURI = lm.ArtifactURI
		desc.ArtifactPath, desc.ModelID = lm.ArtifactURI, lm.ModelID
	} else {
		info.ModelURI = "runs:/" + r.info.RunID + "/" + name
		info.Source = strings.TrimSuffix(r.info.ArtifactURI, "/") + "/" + name
		info.ArtifactURI = info.Source
	}
	files, err := r.upload(ctx, to, localPath, dir)
	info.Files = files
	if err == nil {
		err = r.writeMLmodel(ctx, to, localPath, fi, dir, &desc, o, info)
	}
	if err != nil {
		if lm != nil {
			// Best effort: the upload error is what the caller needs.
			_ = retry(ctx, func() error {
				_, err := r.t.registry.(loggedModels).FinalizeLoggedModel(ctx, lm.ModelID, restclient.LoggedModelUploadFailed)
				return err
			})
		}
		return nil, fmt.Errorf("tracking: log model %q: %w", name, err)
	}
	if lm != nil {
		err := retry(ctx, func() error {
			_, err := r.t.registry.(loggedModels).FinalizeLoggedModel(ctx, lm.ModelID, restclient.LoggedModelReady)
			return err
		})
		if err != nil {
			return info, fmt.Errorf("tracking: log model %q: %w", name, err)
		}
	} else if err := r.recordModel(ctx, desc, info.UUID); err != nil {
		return info, err
	}
	if o.register != "" {
		v, err := r.register(ctx, o, info)
		if err != nil {
			return info, err
		}
		info.Version = newModelVersion(v)
	}
	return info, nil
}

// createLoggedModel creates the MLflow 3 logged model for a LogModel call
// and links it to the run; it returns nil without an error when the
// registry has no logged-model API or the server answers that it has none
// (MLflow before 3.0), so the caller falls back to the MLflow 2 way.
func (r *Run) createLoggedModel(ctx context.Context, name string) (*restclient.LoggedModel, error) {
	api, ok := r.t.registry.(loggedModels)
	if !ok {
		return nil, nil
	}
	var lm *restclient.LoggedModel
	err := retry(ctx, func() error {
		var err error
		lm, err = api.CreateLoggedModel(ctx, restclient.CreateLoggedModelRequest{
			ExperimentID: r.info.ExperimentID, Name: loggedModelName(name), SourceRunID: r.info.RunID,
		})
		return err
	})
	switch {
	case mlflow.IsEndpointMissing(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("tracking: log model %q: %w", name, err)
	case lm.ModelID == "" || lm.ArtifactURI == "":
		return nil, fmt.Errorf("tracking: log model %q: the server created a logged model without id or artifact location", name)
	}
	err = retry(ctx, func() error {
		return api.LogOutputs(ctx, r.info.RunID, []restclient.ModelOutput{{ModelID: lm.ModelID, Step: 0}})
	})
	if err != nil {
		return nil, fmt.Errorf("tracking: log model %q: link logged model %s to the run: %w", name, lm.ModelID, err)
	}
	return lm, nil
}

// loggedModelName is name with the characters MLflow 3 refuses in a logged
// model's name (/ : . % " ') replaced by '_'.
func loggedModelName(name string) string {
	return strings.Map(func(c rune) rune {
		if strings.ContainsRune(`/:.%"'`, c) {
			return '_'
		}
		return c
	}, name)
}

// writeMLmodel uploads the MLmodel descriptor unless the model directory
// brings its own, and sets info.UUID.
func (r *Run) writeMLmodel(ctx context.Context, to *mlflow.RunInfo, localPath string, fi os.FileInfo, dir string, desc *mlmodel, o modelOptions, info *ModelInfo) error {
	if fi.IsDir() && fileExists(filepath.Join(localPath, mlmodelFile)) {
		info.UUID = readModelUUID(filepath.Join(localPath, mlmodelFile))
		return nil
	}
	desc.ModelUUID = newHexID()
	if desc.ModelID != "" {
		// MLflow 3 writes the logged model's id as the model's uuid.
		desc.ModelUUID = desc.ModelID
	}
	info.UUID = desc.ModelUUID
	fields := map[string]any{"go_version": runtime.Version()}
	if !fi.IsDir() {
		fields["data"] = filepath.Base(localPath)
	}
	for k, v := range o.flavorFields {
		fields[k] = v
	}
	desc.Flavors = map[string]map[string]any{o.flavor: fields}
	data, err := yaml.Marshal(desc)
	if err != nil {
		return fmt.Errorf("MLmodel: %w", err)
	}
	dst := mlflow.JoinArtifactPath(dir, mlmodelFile)
	if err := r.uploadBytes(ctx, to, data, dst); err != nil {
		return err
	}
	info.Files = append(info.Files, dst)
	return nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func readModelUUID(p string) string {
	data, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	var m struct {
		UUID string `yaml:"model_uuid"`
	}
	_ = yaml.Unmarshal(data, &m)
	return m.UUID
}

// recordModel appends the model to the run's mlflow.log-model.history tag,
// dropping the oldest entries when the tag would exceed MLflow's limit.
func (r *Run) recordModel(ctx context.Context, desc mlmodel, uuid string) error {
	entry := map[string]any{
		"run_id": r.info.RunID, "artifact_path": desc.ArtifactPath,
		"utc_time_created": desc.UTCTimeCreated, "model_uuid": uuid,
	}
	if desc.Flavors != nil {
		entry["flavors"] = desc.Flavors
	}
	r.mu.Lock()
	r.models = append(r.models, entry)
	var value []byte
	for {
		b, err := json.Marshal(r.models)
		if err != nil {
			r.mu.Unlock()
			return fmt.Errorf("tracking: record model: %w", err)
		}
		if len(b) <= mlflow.MaxTagValueLength || len(r.models) == 1 {
			value = b
			break
		}
		r.models = r.models[1:]
	}
	r.mu.Unlock()
	if err := r.logBatch(ctx, mlflow.Batch{Tags: []mlflow.Tag{{Key: modelHistoryTag, Value: mlflow.TruncateRunes(string(value), mlflow.MaxTagValueLength)}}}); err != nil {
		return fmt.Errorf("tracking: record model %q in run: %w", desc.ArtifactPath, err)
	}
	return nil
}

func (r *Run) register(ctx context.Context, o modelOptions, info *ModelInfo) (*restclient.ModelVersion, error) {
	reg := r.t.registry
	if reg == nil {
		return nil, fmt.Errorf("tracking: register model %q: %w", o.register, ErrNoRegistry)
	}
	err := retry(ctx, func() error {
		_, err := reg.CreateRegisteredModel(ctx, o.register, "", nil)
		if mlflow.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tracking: register model %q: %w", o.register, err)
	}
	var v *restclient.ModelVersion
	err = retry(ctx, func() error {
		var err error
		v, err = reg.CreateModelVersion(ctx, restclient.CreateModelVersionRequest{
			Name: o.register, Source: info.Source, RunID: r.info.RunID, Description: o.description,
			ModelID: info.ModelID,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tracking: register model %q: %w", o.register, err)
	}
	return v, nil
}

// imageExt recognises the formats MLflow's UI displays.
func imageExt(data []byte) (string, bool) {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return ".png", true
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		return ".jpg", true
	}
	head := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	if (bytes.HasPrefix(head, []byte("<svg")) || bytes.HasPrefix(head, []byte("<?xml"))) &&
		bytes.Contains(data[:min(len(data), 4096)], []byte("<svg")) {
		return ".svg", true
	}
	return "", false
}

// LogVisualization stores a PNG, JPEG or SVG image as plots/<name>.<ext>
// and returns that artifact path. With Step, a PNG is also stored as one
// of MLflow's stepped images (images/<key>%step%<n>%timestamp%<ms>%<id>.png,
// shown on the run's image slider) and the run is tagged
// mlflow.loggedImages; other formats cannot be stepped.
func (r *Run) LogVisualization(ctx context.Context, image []byte, name string, opts ...LogOption) (string, error) {
	if err := r.checkOpen(); err != nil {
		return "", err
	}
	ext, ok := imageExt(image)
	if !ok {
		return "", fmt.Errorf("tracking: log visualization %q: not a PNG, JPEG or SVG image", name)
	}
	base := name
	if e := strings.ToLower(path.Ext(name)); e == ext || e == ".jpeg" && ext == ".jpg" {
		base = strings.TrimSuffix(name, path.Ext(name))
	}
	if err := mlflow.ValidateArtifactPath(base); err != nil {
		return "", fmt.Errorf("tracking: log visualization: %w", err)
	}
	o := logOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.hasStep && ext != ".png" {
		return "", fmt.Errorf("tracking: log visualization %q: stepped images must be PNG, got %s", name, ext)
	}
	if o.hasStep && o.step < 0 {
		return "", fmt.Errorf("tracking: log visualization %q: step %d is negative", name, o.step)
	}
	plot := plotsDir + "/" + base + ext
	if err := r.LogArtifactBytes(ctx, image, plot); err != nil {
		return "", err
	}
	if !o.hasStep {
		return plot, nil
	}
	if o.ts.IsZero() {
		o.ts = r.t.now()
	}
	// MLflow writes '/' in image keys as '#' so a key stays one file name.
	key := strings.ReplaceAll(base, "/", "#")
	stepped := imagesDir + "/" + key + "%step%" + strconv.FormatInt(o.step, 10) +
		"%timestamp%" + strconv.FormatInt(o.ts.UnixMilli(), 10) + "%" + newImageID() + ".png"
	if err := r.LogArtifactBytes(ctx, image, stepped); err != nil {
		if strings.Contains(key, "#") && mlflow.IsInvalidParameter(err) {
			// MLflow's own client fails the same way: the server's path
			// check refuses '#'. The plot itself is stored.
			return plot, fmt.Errorf("tracking: log visualization %q: a stepped image key with '/' is stored with '#', which MLflow tracking servers refuse; use a key without '/': %w", name, err)
		}
		return plot, err
	}
	if err := r.SetTag(ctx, loggedImagesTag, "True"); err != nil {
		return plot, err
	}
	return plot, nil
}

// newImageID is a stepped image's id: a newHexID whose first character is
// a letter g-z, as MLflow 3's own client makes it. The tracking server
// unquotes upload paths until they stop changing (validate_path_is_safe),
// so "%<two hex digits>" anywhere in the name is decoded however the
// client escapes it; an id that starts with a non-hex letter keeps the
// "%<id>" separator intact. (The step and timestamp after "%step%" and
// "%timestamp%" are exposed to the same decoding on the server: MLflow's
// issue 14136, docs/tracking.md.)
func newImageID() string {
	id := []byte(newHexID())
	var b [1]byte
	_, _ = rand.Read(b[:])
	id[0] = 'g' + b[0]%20
	return string(id)
}

// newHexID is a random UUID4 in MLflow's 32-hex-digit form.
func newHexID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}
