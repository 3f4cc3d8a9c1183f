/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * mosquitto_ha_ctrl: forms, watches and changes a mosquitto-ha cluster
 * through the control API, without hand-written JSON.
 */
#include "ctrl/ctrl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "NAME\n"
    "    mosquitto_ha_ctrl - form, watch and change a mosquitto-ha "
    "cluster\n"
    "\n"
    "SYNOPSIS\n"
    "    mosquitto_ha_ctrl [CONNECTION OPTIONS] COMMAND [COMMAND OPTIONS]\n"
    "\n"
    "DESCRIPTION\n"
    "    Sends the cluster control API's commands ($CONTROL/cedalo/ha/v1)\n"
    "    to brokers as an administrator and prints the replies in words,\n"
    "    or as JSON with --json. Every request carries a correlationData\n"
    "    of its own; replies to other administrators are ignored.\n"
    "\n"
    "COMMANDS\n"
    "    form --name NAME --node SPEC... (3 to 16, each with mqtt=)\n"
    "        [--syncmode full|dynsec]\n"
    "        Creates the cluster on the first node, joins the others, and\n"
    "        waits until exactly one leader is agreed on. Run again, it\n"
    "        completes a partial cluster: nodes already in are left as\n"
    "        they are.\n"
    "    status [--node SPEC...] [--watch SECONDS]\n"
    "        One line per node: id, cluster and MQTT addresses, role,\n"
    "        term, commit and applied index, lag behind the leader,\n"
    "        reachable or not. Without --node, the broker of -h/-p only.\n"
    "        --watch redraws the table every SECONDS until interrupted.\n"
    "    create --name NAME --node SPEC... --me ID     createCluster\n"
    "    join --name NAME --node SPEC... --me ID       joinCluster\n"
    "        create, join and form take --syncmode full (the default) or\n"
    "        dynsec (docs/api.md, \"Sync modes\"); join must name the\n"
    "        cluster's.\n"
    "        Sent to the broker of -h/-p, or, without -h, to the mqtt=\n"
    "        endpoint of the --me node.\n"
    "    add-node --name NAME --node ID@HOST:PORT      addNode (leader)\n"
    "    remove-node --name NAME --node ID@HOST:PORT   removeNode (leader)\n"
    "    leave --name NAME --node ID@HOST:PORT         leaveCluster (sent\n"
    "        to the leaving node: -h/-p, or the node's mqtt= endpoint)\n"
    "    delete --name NAME                            deleteCluster "
    "(leader)\n"
    "    cluster                                       getCluster (leader)\n"
    "    is-leader                                     isLeader\n"
    "    set-leader --name NAME --id ID                setLeader (leader)\n"
    "    dynsec-export                                 exportConfig of\n"
    "        $CONTROL/dynamic-security/v1 (leader, with\n"
    "        plugin_opt_access_control dynsec): the cluster's users,\n"
    "        groups, roles and ACLs on stdout, in the stock\n"
    "        dynamic-security file format (hashes included)\n"
    "\n"
    "NODES\n"
    "    --node ID@HOST:PORT[,mqtt=HOST:PORT]\n"
    "        ID is the nodeid (1 to 1023), HOST:PORT the node's cluster\n"
    "        address (an IPv6 literal in brackets), mqtt= the broker's\n"
    "        administrative MQTT listener, for form and status.\n"
    "        Example: --node 1@10.0.0.1:7000,mqtt=10.0.0.1:1885\n"
    "\n"
    "CONNECTION OPTIONS\n"
    "    -h HOST           broker to connect to (localhost)\n"
    "    -p PORT           its port (1883, or 8883 with TLS)\n"
    "    -u USER           administrator's user name\n"
    "    -P PASSWORD       its password\n"
    "    -V VERSION        mqttv31, mqttv311 (default) or mqttv5\n"
    "    -i ID             client id (mosquitto_ha_ctrl-PID-N)\n"
    "    --cafile FILE     CA certificates: connect with TLS\n"
    "    --capath DIR      CA certificate folder: connect with TLS\n"
    "    --cert FILE       client certificate (with --key)\n"
    "    --key FILE        client private key\n"
    "    --tls-version V   tlsv1.3, tlsv1.2 or tlsv1.1\n"
    "    --insecure        do not check the server's host name\n"
    "    -o FILE           options file: these options (and --node,\n"
    "                      --name, --timeout), one a line, as on the\n"
    "                      command line (\"-u admin\"); the command line\n"
    "                      wins, and its --node replace the file's. A file\n"
    "                      that holds -P must be mode 600 or stricter.\n"
    "\n"
    "OTHER OPTIONS\n"
    "    --json            print the API's response (form, status: a JSON\n"
    "                      document of their own) instead of words\n"
    "    --timeout SECS    give up after SECS (30): connections, replies,\n"
    "                      form's wait for a leader\n"
    "    --help            this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0  success\n"
    "    1  the command was refused (the API's error sentence on stderr)\n"
    "    2  usage error\n"
    "    3  cannot connect, or not authorised\n"
    "    4  timed out waiting for a reply or for a leader\n"
    "    5  partial success: form left nodes out, status could not reach\n"
    "       every node\n"
    "\n"
    "EXAMPLES\n"
    "    mosquitto_ha_ctrl -u admin -P secret form --name prod \\\n"
    "        --node 1@10.0.0.1:7000,mqtt=10.0.0.1:1883 \\\n"
    "        --node 2@10.0.0.2:7000,mqtt=10.0.0.2:1883 \\\n"
    "        --node 3@10.0.0.3:7000,mqtt=10.0.0.3:1883\n"
    "    mosquitto_ha_ctrl -o ~/.config/ha-prod status --watch 2\n"
    "    mosquitto_ha_ctrl -o ~/.config/ha-prod -h 10.0.0.2 remove-node \\\n"
    "        --name prod --node 3@10.0.0.3:7000\n";

static const char *const single_commands[] = {
    "create", "join",	   "add-node",	 "remove-node", "leave",
    "delete", "is-leader", "set-leader", "cluster",
};

int main(int argc, char **argv)
{
	struct ctrl_args args;
	char *storage = NULL;
	int rc;
	size_t i;

	rc = ctrl_args_parse(argc, argv, &args, &storage);
	if (rc == 0 && args.help) {
		fputs(help_text, stdout);
	} else if (rc == 0 && args.command == NULL) {
		fprintf(stderr, "mosquitto_ha_ctrl: no command given\n"
				"Try 'mosquitto_ha_ctrl --help'.\n");
		rc = CTRL_EXIT_USAGE;
	} else if (rc == 0 && args.watch_s > 0 &&
		   strcmp(args.command, "status") != 0) {
		fprintf(stderr, "mosquitto_ha_ctrl: --watch is for status "
				"only\n");
		rc = CTRL_EXIT_USAGE;
	} else if (rc == 0 && !strcmp(args.command, "form")) {
		rc = ctrl_run_form(&args);
	} else if (rc == 0 && !strcmp(args.command, "status")) {
		rc = ctrl_run_status(&args);
	} else if (rc == 0 && !strcmp(args.command, "dynsec-export")) {
		rc = ctrl_run_dynsec_export(&args);
	} else if (rc == 0) {
		for (i = 0;
		     i < sizeof single_commands / sizeof *single_commands; i++)
			if (!strcmp(args.command, single_commands[i]))
				break;
		if (i == sizeof single_commands / sizeof *single_commands) {
			fprintf(stderr,
				"mosquitto_ha_ctrl: unknown command '%s'\n"
				"Try 'mosquitto_ha_ctrl --help'.\n",
				args.command);
			rc = CTRL_EXIT_USAGE;
		} else {
			rc = ctrl_run_single(&args);
		}
	}
	free(storage);
	return rc;
}
