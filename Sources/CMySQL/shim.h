#ifndef ESTEIRA_CMYSQL_SHIM_H
#define ESTEIRA_CMYSQL_SHIM_H
/* mysql.h uses size_t and the shim uses NULL, but neither header is pulled in by mysql.h itself. */
#include <stddef.h>
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

/* Names the calling thread (for top -H, gdb, crash reports): each connection lives on its own thread.
   Foundation's Thread.name races with thread start on Linux, so name it from the thread itself.
   glibc and musl declare pthread_setname_np only under _GNU_SOURCE, which a module header cannot set. */
#include <pthread.h>
#if defined(__APPLE__)
static inline void esteira_set_current_thread_name(const char *name) { pthread_setname_np(name); }
#elif defined(__linux__)
extern int pthread_setname_np(pthread_t thread, const char *name);
static inline void esteira_set_current_thread_name(const char *name) { (void)pthread_setname_np(pthread_self(), name); }
#else
static inline void esteira_set_current_thread_name(const char *name) { (void)name; }
#endif
#endif
