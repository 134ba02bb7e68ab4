#ifndef ESTEIRA_CMYSQL_SHIM_H
#define ESTEIRA_CMYSQL_SHIM_H
#include <mysql.h>
#include <errmsg.h>

/* mysql_library_init is a macro in Connector/C. */
static inline int esteira_mysql_library_init(void) { return mysql_library_init(0, NULL, NULL); }

/* mysql_options takes a void pointer; typed wrappers keep Swift honest. */
static inline int esteira_mysql_opt_uint(MYSQL *m, enum mysql_option o, unsigned int v) {
    return mysql_options(m, o, &v);
}
static inline int esteira_mysql_opt_bool(MYSQL *m, enum mysql_option o, int v) {
    my_bool b = v ? 1 : 0;
    return mysql_options(m, o, &b);
}
static inline int esteira_mysql_opt_string(MYSQL *m, enum mysql_option o, const char *v) {
    return mysql_options(m, o, v);
}
#endif
