module github.com/taskstate/statebackend/cmd/benchtable

go 1.26.8

replace github.com/taskstate/statebackend => ../..
