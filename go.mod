module github.com/ecs-anywhere/ecs-agent

go 1.26.8
