package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// MetadataFiles configures the container metadata files of
// ECS_ENABLE_CONTAINER_METADATA: a JSON file per container that the agent
// writes on the host and bind-mounts into the container, whose
// ECS_CONTAINER_METADATA_FILE names it. It says NOT_READY from the create
// on, and READY with the Docker ID, image and networks once the container
// runs.
type MetadataFiles struct {
	// Dir is where the agent writes them (<ECS_DATADIR>/metadata); HostDir
	// is the same directory as the Docker host sees it, which differs when
	// the agent runs in a container.
	Dir, HostDir string

	Cluster                string
	ContainerInstanceARN   string
	AvailabilityZone       string
	HostPrivateIPv4Address string
	HostPublicIPv4Address  string
}

const (
	metadataFileName  = "ecs-container-metadata.json"
	metadataMountRoot = "/opt/ecs/metadata"
	metadataNotReady  = "NOT_READY"
	metadataReady     = "READY"
)

// metadataFile is the file's content, in the Amazon agent's shape.
type metadataFile struct {
	Cluster                string            `json:"Cluster,omitempty"`
	ContainerInstanceARN   string            `json:"ContainerInstanceARN,omitempty"`
	TaskARN                string            `json:"TaskARN"`
	TaskDefinitionFamily   string            `json:"TaskDefinitionFamily"`
	TaskDefinitionRevision string            `json:"TaskDefinitionRevision"`
	ContainerID            string            `json:"ContainerID,omitempty"`
	ContainerName          string            `json:"ContainerName"`
	DockerContainerName    string            `json:"DockerContainerName,omitempty"`
	ImageID                string            `json:"ImageID,omitempty"`
	ImageName              string            `json:"ImageName"`
	PortMappings           []metadataPort    `json:"PortMappings,omitempty"`
	Networks               []metadataNetwork `json:"Networks,omitempty"`
	MetadataFileStatus     string            `json:"MetadataFileStatus"`
	AvailabilityZone       string            `json:"AvailabilityZone,omitempty"`
	HostPrivateIPv4Address string            `json:"HostPrivateIPv4Address,omitempty"`
	HostPublicIPv4Address  string            `json:"HostPublicIPv4Address,omitempty"`
}

type metadataPort struct {
	ContainerPort int    `json:"ContainerPort"`
	HostPort      int    `json:"HostPort"`
	BindIP        string `json:"BindIp"`
	Protocol      string `json:"Protocol"`
}

type metadataNetwork struct {
	NetworkMode   string   `json:"NetworkMode"`
	IPv4Addresses []string `json:"IPv4Addresses,omitempty"`
}

// metadataDir is the directory of c's file under root (Dir or HostDir):
// one per task, one per container inside, named by the container's
// endpoint ID, which is safe as a path element whatever the name is.
func metadataDir(root string, t *task, c *container) string {
	return filepath.Join(root, t.ID, c.EndpointID)
}

// metadataMount returns the bind mount and the in-container path of c's
// metadata file, or "" when metadata files are off.
func (e *Engine) metadataMount(t *task, c *container) (bind, inside string) {
	mf := e.o.MetadataFiles
	if mf == nil {
		return "", ""
	}
	dir := metadataMountRoot + "/" + c.EndpointID
	return metadataDir(mf.HostDir, t, c) + ":" + dir + ":ro", dir + "/" + metadataFileName
}

// writeMetadataFile writes c's metadata file, READY or not, through a
// temporary file and a rename, so the container never reads half a file.
func (w *worker) writeMetadataFile(c *container, ready bool) error {
	mf, t := w.e.o.MetadataFiles, w.t
	m := metadataFile{
		Cluster: mf.Cluster, ContainerInstanceARN: mf.ContainerInstanceARN,
		TaskARN: t.ARN, TaskDefinitionFamily: t.Family, TaskDefinitionRevision: t.Version,
		ContainerName: c.Name, ImageName: c.Image, MetadataFileStatus: metadataNotReady,
		AvailabilityZone: mf.AvailabilityZone, HostPrivateIPv4Address: mf.HostPrivateIPv4Address,
		HostPublicIPv4Address: mf.HostPublicIPv4Address,
	}
	if ready {
		m.MetadataFileStatus = metadataReady
		m.ContainerID, m.DockerContainerName, m.ImageID = c.DockerID, "/"+c.DockerName, c.ImageID
		for _, b := range c.KnownPortBindings {
			if b.ContainerPortRange == "" {
				m.PortMappings = append(m.PortMappings, metadataPort{ContainerPort: b.ContainerPort, HostPort: b.HostPort,
					BindIP: b.BindIP, Protocol: b.Protocol})
			}
		}
		for _, n := range c.Networks {
			mn := metadataNetwork{NetworkMode: n.Name}
			if n.IPv4Address != "" {
				mn.IPv4Addresses = []string{n.IPv4Address}
			}
			m.Networks = append(m.Networks, mn)
		}
	}
	if err := checkPathElem(t.ID); err != nil {
		return err
	}
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode metadata file: %w", err)
	}
	dir := metadataDir(mf.Dir, t, c)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("metadata file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, metadataFileName+".*")
	if err != nil {
		return fmt.Errorf("metadata file: %w", err)
	}
	_, werr := tmp.Write(append(body, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write metadata file %s: %w", tmp.Name(), err)
	}
	// Readable by the container's user, whoever that is.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("metadata file: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, metadataFileName)); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("metadata file: %w", err)
	}
	return nil
}

// updateMetadataFiles turns the files of running containers READY. A
// failed write is logged and tried again at the next step.
func (w *worker) updateMetadataFiles() {
	if w.e.o.MetadataFiles == nil {
		return
	}
	for _, c := range w.t.Containers {
		if c.MetadataReady || c.DockerID == "" || c.KnownStatus != statusRunning {
			continue
		}
		if err := w.writeMetadataFile(c, true); err != nil {
			w.log.Warn("could not update the container metadata file", logging.KeyContainer, c.Name, logging.KeyError, err)
			w.wakeAt(w.e.o.Now().Add(retryDelay))
			continue
		}
		c.MetadataReady = true
	}
}

// removeMetadataFiles deletes the task's metadata files at cleanup.
func (w *worker) removeMetadataFiles() error {
	mf := w.e.o.MetadataFiles
	if mf == nil {
		return nil
	}
	if checkPathElem(w.t.ID) != nil {
		return nil // no file was ever written for it
	}
	if err := os.RemoveAll(filepath.Join(mf.Dir, w.t.ID)); err != nil {
		return fmt.Errorf("remove metadata files: %w", err)
	}
	return nil
}

// checkPathElem refuses a task ID that would not stay inside the metadata
// directory.
func checkPathElem(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\\\x00") {
		return fmt.Errorf("task ID %q cannot name a metadata directory", id)
	}
	return nil
}
