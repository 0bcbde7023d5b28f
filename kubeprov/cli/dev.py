"""`kubeprov dev`: a control plane on loopback for development and integration tests."""

from __future__ import annotations

from pathlib import Path

import typer

from kubeprov.cli.output import make_console

app = typer.Typer(help="Run a development control plane on this machine.", no_args_is_help=True)


@app.command("up")
def up(
    directory: Path = typer.Option(..., "--dir", help="Folder for etcd data, PKI, logs and admin.kubeconfig."),
    port: int = typer.Option(6443, "--port", help="Port of the API server on 127.0.0.1."),
    hollow_nodes: int = typer.Option(0, "--hollow-nodes", help="Also run this many simulated nodes."),
    standby: bool = typer.Option(False, "--standby",
                                 help="Also run a standby scheduler and controller manager (leader election)."),
    kubelet: bool = typer.Option(False, "--kubelet",
                                 help="Also run a real node on this host: kubelet, cluster DNS, image registry "
                                      "(needs root and runc)."),
) -> None:
    """Start etcd and every control-plane component in the background; return when ready."""
    from kubeprov.lifecycle.dev import dev_up

    cluster = dev_up(directory, port, hollow_nodes, standby, kubelet)
    console = make_console()
    console.print(f"control plane ready at {cluster.url}")
    if cluster.node is not None:
        node = cluster.node
        console.print(f"node dev ready: InternalIP {node.node_ip}, pods {node.pod_cidr} on bridge {node.bridge}, "
                      f"cluster DNS {node.dns_ip}")
    console.print(f"kubectl --kubeconfig {cluster.kubeconfig} get namespaces")


@app.command("down")
def down(directory: Path = typer.Option(..., "--dir", help="Folder given to `kubeprov dev up`.")) -> None:
    """Stop exactly the processes `kubeprov dev up` started in DIR and remove its node's pods and interfaces."""
    from kubeprov.lifecycle.dev import dev_down_all

    stopped, removed = dev_down_all(directory)
    console = make_console()
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    if removed:
        console.print(f"removed: {', '.join(removed)}")
