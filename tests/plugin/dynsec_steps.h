/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/*
 * A sequence of $CONTROL/dynamic-security/v1 commands that runs every
 * command into each of its answers, shared by test_dynsec_commands.c (which
 * checks the replies, records and applies) and dynsec_replay.c (which
 * prints this code's replies for dynsec_stock.py to compare with the stock
 * plugin's). It starts from an empty state or a file with other names.
 */
#ifndef TESTS_PLUGIN_DYNSEC_STEPS_H
#define TESTS_PLUGIN_DYNSEC_STEPS_H

#include <stdbool.h>
#include <stddef.h>

/* One step: a command, the error it must get (NULL: success), whether a
 * success is a change (a record) or a query. */
struct step {
	const char *cmd;
	const char *error;
	bool change;
	/* mosquitto 2.0.11 answers otherwise (later 2.0 releases fixed it),
	 * or fails on it: left out when comparing with it. */
	bool not_2011;
};

/* clang-format off */
#define OK_CHANGE(c) {c, NULL, true, false}
#define OK_QUERY(c) {c, NULL, false, false}
#define ERR(c, e) {c, e, false, false}
#define ERR_NOT_2011(c, e) {c, e, false, true}
/* clang-format on */

static const struct step dynsec_steps[] = {
    /* Envelope. */
    ERR("[1]", "Command not an object"),
    ERR("{\"x\": 1}", "Missing command"),
    ERR("{\"command\": \"fly\"}", "Unknown command"),
    ERR("{\"command\": \"getClient\", \"correlationData\": 5}",
	"Invalid correlationData data type."),
    /* Default access. */
    ERR("{\"command\": \"setDefaultACLAccess\"}",
	"Missing/invalid actions array"),
    OK_CHANGE("{\"command\": \"setDefaultACLAccess\", \"acls\": ["
	      "{\"acltype\": \"publishClientSend\", \"allow\": true},"
	      "{\"acltype\": \"SUBSCRIBE\", \"allow\": true},"
	      "{\"acltype\": \"bogus\", \"allow\": true}, {\"allow\": 1}]}"),
    OK_QUERY("{\"command\": \"getDefaultACLAccess\"}"),
    /* Roles. */
    ERR("{\"command\": \"createRole\"}", "Invalid/missing rolename"),
    ERR("{\"command\": \"createRole\", \"rolename\": \"r1\", \"textname\": "
	"1}",
	"Invalid/missing textname"),
    ERR("{\"command\": \"createRole\", \"rolename\": \"r1\", "
	"\"textdescription\": []}",
	"Invalid/missing textdescription"),
    OK_CHANGE("{\"command\": \"createRole\", \"rolename\": \"r1\", "
	      "\"textname\": \"One\", \"acls\": [{\"acltype\": "
	      "\"publishClientSend\", \"topic\": \"a/#\", \"priority\": 2, "
	      "\"allow\": true}]}"),
    OK_CHANGE("{\"command\": \"createRole\", \"rolename\": \"r2\"}"),
    ERR("{\"command\": \"createRole\", \"rolename\": \"r1\"}",
	"Role already exists"),
    ERR("{\"command\": \"modifyRole\", \"rolename\": \"zz\"}",
	"Role does not exist"),
    OK_CHANGE("{\"command\": \"modifyRole\", \"rolename\": \"r2\", "
	      "\"textdescription\": \"Two\", \"acls\": [{\"acltype\": "
	      "\"subscribeLiteral\", \"topic\": \"s\", \"allow\": true}]}"),
    ERR("{\"command\": \"addRoleACL\", \"rolename\": \"zz\"}",
	"Role not found"),
    ERR("{\"command\": \"addRoleACL\", \"rolename\": \"r1\"}",
	"Invalid/missing acltype"),
    ERR("{\"command\": \"addRoleACL\", \"rolename\": \"r1\", \"acltype\": "
	"\"subscribe\"}",
	"Unknown acltype"),
    ERR("{\"command\": \"addRoleACL\", \"rolename\": \"r1\", \"acltype\": "
	"\"subscribePattern\"}",
	"Invalid/missing topic"),
    ERR("{\"command\": \"addRoleACL\", \"rolename\": \"r1\", \"acltype\": "
	"\"subscribePattern\", \"topic\": \"a/#/b\"}",
	"Invalid ACL topic"),
    ERR("{\"command\": \"addRoleACL\", \"rolename\": \"r1\", \"acltype\": "
	"\"publishClientSend\", \"topic\": \"a/#\"}",
	"ACL with this topic already exists"),
    OK_CHANGE("{\"command\": \"addRoleACL\", \"rolename\": \"r1\", "
	      "\"acltype\": \"subscribePattern\", \"topic\": \"a/+\", "
	      "\"priority\": 4, \"allow\": true}"),
    ERR("{\"command\": \"removeRoleACL\", \"rolename\": \"r1\", "
	"\"acltype\": \"subscribePattern\", \"topic\": \"nope\"}",
	"ACL not found"),
    OK_CHANGE("{\"command\": \"removeRoleACL\", \"rolename\": \"r1\", "
	      "\"acltype\": \"subscribePattern\", \"topic\": \"a/+\"}"),
    ERR("{\"command\": \"getRole\"}", "Invalid/missing rolename"),
    ERR("{\"command\": \"getRole\", \"rolename\": \"zz\"}", "Role not found"),
    OK_QUERY("{\"command\": \"getRole\", \"rolename\": \"r1\"}"),
    OK_QUERY("{\"command\": \"listRoles\", \"verbose\": true}"),
    /* Clients. */
    ERR("{\"command\": \"createClient\"}", "Invalid/missing username"),
    ERR("{\"command\": \"createClient\", \"username\": \"u\", \"password\": "
	"1}",
	"Invalid/missing password"),
    ERR("{\"command\": \"createClient\", \"username\": \"u\", \"clientid\": "
	"1}",
	"Invalid/missing client id"),
    ERR("{\"command\": \"createClient\", \"username\": \"u\", \"roles\": "
	"{}}",
	"'roles' not an array or missing/invalid rolename"),
    ERR("{\"command\": \"createClient\", \"username\": \"u\", \"roles\": "
	"[{\"rolename\": \"zz\"}]}",
	"Role not found"),
    ERR("{\"command\": \"createClient\", \"username\": \"u\", \"groups\": "
	"[{\"groupname\": \"zz\"}]}",
	"Group not found"),
    OK_CHANGE("{\"command\": \"createClient\", \"username\": \"u\", "
	      "\"password\": \"first pw\", \"clientid\": \"\", \"roles\": "
	      "[{\"rolename\": \"r1\", \"priority\": 3}, {\"rolename\": "
	      "\"r2\"}]}"),
    OK_CHANGE("{\"command\": \"createClient\", \"username\": \"v\"}"),
    ERR("{\"command\": \"createClient\", \"username\": \"u\"}",
	"Client already exists"),
    ERR("{\"command\": \"modifyClient\", \"username\": \"zz\"}",
	"Client not found"),
    ERR("{\"command\": \"modifyClient\", \"username\": \"u\", \"roles\": "
	"[{\"x\": 1}]}",
	"'roles' not an array or missing/invalid rolename"),
    ERR_NOT_2011(
	"{\"command\": \"modifyClient\", \"username\": \"u\", \"groups\": "
	"[{\"priority\": 1}]}",
	"'groups' contains an object with an invalid 'groupname'"),
    ERR_NOT_2011(
	"{\"command\": \"modifyClient\", \"username\": \"u\", \"groups\": "
	"[{\"groupname\": \"zz\"}]}",
	"'groups' contains an object with a 'groupname' that does not exist"),
    OK_CHANGE("{\"command\": \"modifyClient\", \"username\": \"u\", "
	      "\"textname\": \"You\", \"clientid\": \"dev\", \"password\": "
	      "\"second pw\"}"),
    ERR("{\"command\": \"setClientPassword\", \"username\": \"u\"}",
	"Invalid/missing password"),
    ERR("{\"command\": \"setClientPassword\", \"username\": \"u\", "
	"\"password\": \"\"}",
	"Empty password is not allowed"),
    ERR("{\"command\": \"setClientPassword\", \"username\": \"zz\", "
	"\"password\": \"p\"}",
	"Client not found"),
    OK_CHANGE("{\"command\": \"setClientPassword\", \"username\": \"v\", "
	      "\"password\": \"third pw\"}"),
    ERR("{\"command\": \"setClientId\", \"username\": \"u\", \"clientid\": "
	"2}",
	"Invalid/missing client ID"),
    OK_CHANGE("{\"command\": \"setClientId\", \"username\": \"v\", "
	      "\"clientid\": \"vid\"}"),
    ERR("{\"command\": \"addClientRole\", \"username\": \"u\"}",
	"Invalid/missing rolename"),
    ERR("{\"command\": \"addClientRole\", \"username\": \"zz\", "
	"\"rolename\": \"r1\"}",
	"Client not found"),
    ERR("{\"command\": \"addClientRole\", \"username\": \"v\", "
	"\"rolename\": \"zz\"}",
	"Role not found"),
    OK_CHANGE("{\"command\": \"addClientRole\", \"username\": \"v\", "
	      "\"rolename\": \"r2\", \"priority\": 8}"),
    ERR("{\"command\": \"addClientRole\", \"username\": \"v\", "
	"\"rolename\": \"r2\"}",
	"Internal error"),
    ERR("{\"command\": \"removeClientRole\", \"username\": \"v\", "
	"\"rolename\": \"zz\"}",
	"Role not found"),
    OK_CHANGE("{\"command\": \"removeClientRole\", \"username\": \"u\", "
	      "\"rolename\": \"r2\"}"),
    ERR("{\"command\": \"disableClient\"}", "Invalid/missing username"),
    ERR("{\"command\": \"disableClient\", \"username\": \"zz\"}",
	"Client not found"),
    OK_CHANGE("{\"command\": \"disableClient\", \"username\": \"v\"}"),
    OK_CHANGE("{\"command\": \"enableClient\", \"username\": \"v\"}"),
    ERR("{\"command\": \"enableClient\", \"username\": \"zz\"}",
	"Client not found"),
    /* Groups. */
    ERR("{\"command\": \"createGroup\"}", "Invalid/missing groupname"),
    ERR("{\"command\": \"createGroup\", \"groupname\": \"g\", \"roles\": "
	"[{\"rolename\": \"zz\"}]}",
	"Role not found"),
    OK_CHANGE("{\"command\": \"createGroup\", \"groupname\": \"g\", "
	      "\"textname\": \"Gee\", \"roles\": [{\"rolename\": \"r2\"}]}"),
    OK_CHANGE("{\"command\": \"createGroup\", \"groupname\": \"anon\"}"),
    ERR("{\"command\": \"createGroup\", \"groupname\": \"g\"}",
	"Group already exists"),
    ERR("{\"command\": \"addGroupClient\", \"username\": \"u\"}",
	"Invalid/missing groupname"),
    ERR("{\"command\": \"addGroupClient\", \"username\": \"zz\", "
	"\"groupname\": \"g\"}",
	"Client not found"),
    ERR("{\"command\": \"addGroupClient\", \"username\": \"u\", "
	"\"groupname\": \"zz\"}",
	"Group not found"),
    OK_CHANGE("{\"command\": \"addGroupClient\", \"username\": \"u\", "
	      "\"groupname\": \"g\", \"priority\": 5}"),
    ERR("{\"command\": \"addGroupClient\", \"username\": \"u\", "
	"\"groupname\": \"g\"}",
	"Client is already in this group"),
    OK_CHANGE("{\"command\": \"removeGroupClient\", \"username\": \"u\", "
	      "\"groupname\": \"g\"}"),
    ERR("{\"command\": \"removeGroupClient\", \"username\": \"u\", "
	"\"groupname\": \"zz\"}",
	"Group not found"),
    ERR("{\"command\": \"addGroupRole\", \"groupname\": \"zz\", "
	"\"rolename\": \"r1\"}",
	"Group not found"),
    ERR("{\"command\": \"addGroupRole\", \"groupname\": \"g\", "
	"\"rolename\": \"zz\"}",
	"Role not found"),
    ERR("{\"command\": \"addGroupRole\", \"groupname\": \"g\", "
	"\"rolename\": \"r2\"}",
	"Group is already in this role"),
    OK_CHANGE("{\"command\": \"addGroupRole\", \"groupname\": \"g\", "
	      "\"rolename\": \"r1\", \"priority\": 9}"),
    OK_CHANGE("{\"command\": \"removeGroupRole\", \"groupname\": \"g\", "
	      "\"rolename\": \"r2\"}"),
    ERR("{\"command\": \"modifyGroup\", \"groupname\": \"zz\"}",
	"Group not found"),
    ERR_NOT_2011(
	"{\"command\": \"modifyGroup\", \"groupname\": \"g\", \"clients\": "
	"[{\"username\": \"zz\"}]}",
	"'clients' contains an object with a 'username' that does not exist"),
    ERR_NOT_2011(
	"{\"command\": \"modifyGroup\", \"groupname\": \"g\", \"clients\": "
	"[{\"priority\": 1}]}",
	"'clients' contains an object with an invalid 'username'"),
    OK_CHANGE("{\"command\": \"modifyGroup\", \"groupname\": \"g\", "
	      "\"textdescription\": \"d\", \"clients\": [{\"username\": "
	      "\"v\", \"priority\": 2}, {\"username\": \"u\"}]}"),
    OK_CHANGE("{\"command\": \"modifyClient\", \"username\": \"u\", "
	      "\"groups\": [{\"groupname\": \"anon\", \"priority\": 1}]}"),
    ERR("{\"command\": \"setAnonymousGroup\", \"groupname\": \"zz\"}",
	"Group not found"),
    OK_CHANGE("{\"command\": \"setAnonymousGroup\", \"groupname\": "
	      "\"anon\"}"),
    OK_QUERY("{\"command\": \"getAnonymousGroup\"}"),
    ERR_NOT_2011("{\"command\": \"deleteGroup\", \"groupname\": \"anon\"}",
		 "Deleting the anonymous group is forbidden"),
    ERR("{\"command\": \"getGroup\", \"groupname\": \"zz\"}",
	"Group not found"),
    OK_QUERY("{\"command\": \"getGroup\", \"groupname\": \"g\"}"),
    OK_QUERY("{\"command\": \"listGroups\"}"),
    ERR("{\"command\": \"getClient\", \"username\": \"zz\"}",
	"Client not found"),
    OK_QUERY("{\"command\": \"getClient\", \"username\": \"u\"}"),
    OK_QUERY("{\"command\": \"listClients\", \"verbose\": true}"),
    /* Deletions, with what refers to them. */
    OK_CHANGE("{\"command\": \"deleteRole\", \"rolename\": \"r1\"}"),
    ERR("{\"command\": \"deleteRole\", \"rolename\": \"r1\"}",
	"Role not found"),
    OK_CHANGE("{\"command\": \"deleteGroup\", \"groupname\": \"g\"}"),
    ERR("{\"command\": \"deleteGroup\", \"groupname\": \"g\"}",
	"Group not found"),
    OK_CHANGE("{\"command\": \"deleteClient\", \"username\": \"v\"}"),
    ERR("{\"command\": \"deleteClient\", \"username\": \"v\"}",
	"Client not found"),
};

#define DYNSEC_STEPS (sizeof(dynsec_steps) / sizeof(dynsec_steps[0]))

#endif
