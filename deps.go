//go:build tools

package ecsagent

import (
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	_ "github.com/aws/aws-sdk-go-v2/service/ecs"
	_ "github.com/aws/smithy-go"
	_ "github.com/cihub/seelog"
	_ "github.com/docker/docker/client"
	_ "github.com/google/uuid"
	_ "github.com/gorilla/websocket"
	_ "github.com/stretchr/testify/require"
	_ "go.etcd.io/bbolt"
)
